/* signature_window.c — the constant arguments of the windowed operators (signature.h):
 * conv2d's and conv1d's stride, padding (numbers, lists, "same", "valid"), dilation and
 * groups, conv_transpose2d's, and the pools' window, stride and padding, read with one
 * set of rules and messages for the compiler and the tape, as torch.nn.functional
 * defines them. */
#include <math.h>
#include <string.h>
#include "signature.h"

/* An int or a list of n ints (each >= min) into out[0..n-1]; absent: def. */
static void ints(const ArgReader *r, const Expr *e, int n, int def, int min, const char *what, int *out) {
  if (!e || e->kind != EX_LIST) {
    int v = arg_pos_int(r, e, def, min, what);
    for (int i = 0; i < n; i++) out[i] = v;
    return;
  }
  if (e->nargs != n)
    diag_error(r->d, e->loc, "%s must be an integer or a list of %d integers, got a list of %d", what, n, e->nargs);
  for (int i = 0; i < n; i++) out[i] = arg_pos_int(r, e->args[i], def, min, what);
}

/* Reads per-axis values for the nsp spatial axes of the call into the last nsp of v[2]. */
static void axes(const ArgReader *r, const Expr *e, int nsp, int def, int min, const char *what, int *v) {
  v[0] = def == 0 ? 0 : 1;
  ints(r, e, nsp, def, min, what, v + 2 - nsp);
}

static void conv_padding(const ArgReader *r, const Expr *e, int nsp, const int64_t *ksize, ConvArgs *c) {
  static const char *const modes[] = {"valid", "same", NULL};
  int p[2] = {0, 0};
  if (e && e->kind == EX_STR) {
    if (arg_choice(r, e, "padding", modes, 0) == 1) {
      if (c->stride[0] != 1 || c->stride[1] != 1)
        diag_error(r->d, e->loc, "padding=\"same\" needs stride 1 (as PyTorch): give the padding as numbers");
      for (int i = 0; i < 2; i++) { /* torch: the total d*(k-1), the extra half after */
        int total = c->dil[i] * (int)(ksize[i] - 1);
        c->lo[i] = total / 2, c->hi[i] = total - total / 2;
      }
    }
    return;
  }
  if (e && e->kind == EX_LIST && e->nargs == 2 * nsp)
    diag_error(r->d, e->loc,
               "padding takes %d number%s, one per spatial axis (both sides alike, as PyTorch's conv); for "
               "different sides, pad the input first or use padding=\"same\"",
               nsp, nsp > 1 ? "s" : "");
  axes(r, e, nsp, 0, 0, "padding", p);
  for (int i = 0; i < 2; i++) c->lo[i] = c->hi[i] = p[i];
}

void arg_conv(const ArgReader *r, Expr *const *e, int nsp, const int64_t *ksize, ConvArgs *out) {
  memset(out, 0, sizeof *out);
  axes(r, e[0], nsp, 1, 1, "stride", out->stride);
  axes(r, e[2], nsp, 1, 1, "dilation", out->dil);
  out->groups = arg_pos_int(r, e[3], 1, 1, "groups");
  int64_t k[2] = {nsp == 1 ? 1 : ksize[0], ksize[nsp - 1]};
  conv_padding(r, e[1], nsp, k, out);
}

void arg_conv_transpose(const ArgReader *r, Expr *const *e, ConvArgs *out) {
  memset(out, 0, sizeof *out);
  ints(r, e[0], 2, 1, 1, "stride", out->stride);
  ints(r, e[1], 2, 0, 0, "padding", out->lo);
  memcpy(out->hi, out->lo, sizeof out->hi);
  ints(r, e[2], 2, 0, 0, "output_padding", out->outpad);
  out->groups = arg_pos_int(r, e[3], 1, 1, "groups");
  ints(r, e[4], 2, 1, 1, "dilation", out->dil);
  for (int i = 0; i < 2; i++)
    if (out->outpad[i] >= out->stride[i])
      diag_error(r->d, e[2]->loc, "output_padding %d must be smaller than the stride %d", out->outpad[i],
                 out->stride[i]);
}

void arg_pool(const ArgReader *r, Expr *const *e, PoolArgs *out) {
  ints(r, e[0], 2, 1, 1, "the window size", out->k);
  if (e[1]) ints(r, e[1], 2, 1, 1, "stride", out->stride);
  else memcpy(out->stride, out->k, sizeof out->stride); /* torch: stride defaults to the window */
  ints(r, e[2], 2, 0, 0, "padding", out->pad);
  for (int i = 0; i < 2; i++)
    if (out->pad[i] > out->k[i] / 2)
      diag_error(r->d, e[2]->loc, "padding %d must be at most half the window %d (as PyTorch)", out->pad[i],
                 out->k[i]);
}
