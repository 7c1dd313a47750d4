/* grad_cases.h — the table of tests/test_grad.c: one small model per operator of the
 * language (and per shape class of the ones with several), with the domain its
 * parameters are drawn from. A new operator adds its row here (docs/ADDING_AN_OP.md);
 * grad/every_derivative_is_tested fails while a differentiable primitive has no row.
 * Included by test_grad.c only. */
#ifndef GRADC_TEST_GRAD_CASES_H
#define GRADC_TEST_GRAD_CASES_H
#include <stdbool.h>

typedef enum {
  D_ANY,  /* params uniform in [-1.5, 1.5] */
  D_POS,  /* params uniform in [0.5, 2] (log, sqrt, fractional and negative powers, div) */
  D_AWAY, /* params +-[0.3, 1.5]: away from the kinks of relu/abs/leaky_relu */
  D_WIDE, /* params uniform in [-4, 4] (sigmoid, softplus, gelu) */
} Domain;

typedef struct {
  const char *name;
  Domain dom;
  int classes; /* i32 inputs: labels uniform in [0, classes) */
  bool no_fd;  /* detach: finite differences see through it (checked in its own test) */
  const char *src;
} Case;

/* y = EXPR of shape SHAPE, loss = sum(y * r). */
#define EW(shape, decls, expr)                                                                                  \
  "model t\ninput r : f32" shape "\n" decls "y = " expr "\nloss = sum(y * r)\noutput y\nminimize loss\n"
#define P(name, shape) "param " name " : f32" shape " = randn\n"

static Case cases[] = {
    /* ---- + - * / with broadcasting, unary - */
    {"add_same", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]") P("b", "[2,3]"), "a + b")},
    {"add_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a + b")},
    {"add_col_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[1,4]"), "a + b")},
    {"add_3d", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[2,1,4]") P("b", "[3,1]"), "a + b")},
    {"add_const", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a + 2.5")},
    {"add_scalar_param", D_ANY, 0, 0, EW("[2,3]", P("s", "[]") P("a", "[2,3]"), "s + a")},
    {"sub_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a - b")},
    {"sub_rev", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "b - a")},
    {"sub_const", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "1 - a")},
    {"sub_col_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[1,4]"), "a - b")},
    {"mul_same", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]") P("b", "[2,3]"), "a * b")},
    {"mul_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a * b")},
    {"mul_outer", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[1,4]"), "a * b")},
    {"mul_scalar", D_ANY, 0, 0, EW("[2,3]", P("s", "[]") P("a", "[2,3]"), "s * a")},
    {"mul_3d_bcast", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]") P("b", "[3,1]"), "a * b")},
    {"mul_self", D_ANY, 0, 0, EW("[5]", P("a", "[5]"), "a * a")},
    {"mul_const", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a * 3")},
    {"div_same", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]") P("b", "[2,3]"), "a / b")},
    {"div_row", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a / b")},
    {"div_3d_col", D_POS, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]") P("b", "[3,1]"), "a / b")},
    {"div_scalar_by", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]") P("s", "[]"), "a / s")},
    {"div_num_by", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "2 / a")},
    {"div_by_num", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a / 4")},
    {"div_self", D_POS, 0, 0, EW("[4]", P("a", "[4]") P("b", "[4]"), "(a + b) / a")},
    {"neg", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "-a")},
    {"neg_expr", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "-(a * b) + a")},
    {"neg_neg", D_ANY, 0, 0, EW("[3]", P("a", "[3]") P("b", "[3]"), "-(-a) * b")},
    {"precedence", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]") P("c", "[3,1]"), "a + b * c - a / c")},
    /* ---- @ (torch.matmul) */
    {"mm_1d_1d", D_ANY, 0, 0, EW("[]", P("a", "[4]") P("b", "[4]"), "a @ b")},
    {"mm_2d_1d", D_ANY, 0, 0, EW("[3]", P("a", "[3,4]") P("b", "[4]"), "a @ b")},
    {"mm_1d_2d", D_ANY, 0, 0, EW("[3]", P("a", "[4]") P("b", "[4,3]"), "a @ b")},
    {"mm_2d_2d", D_ANY, 0, 0, EW("[3,5]", P("a", "[3,4]") P("b", "[4,5]"), "a @ b")},
    {"mm_2d_2d_tall", D_ANY, 0, 0, EW("[7,2]", P("a", "[7,3]") P("b", "[3,2]"), "a @ b")},
    {"mm_3d_3d", D_ANY, 0, 0, EW("[2,3,5]", P("a", "[2,3,4]") P("b", "[2,4,5]"), "a @ b")},
    {"mm_3d_2d", D_ANY, 0, 0, EW("[2,3,5]", P("a", "[2,3,4]") P("b", "[4,5]"), "a @ b")},
    {"mm_3d_1d", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3,4]") P("b", "[4]"), "a @ b")},
    {"mm_2d_3d", D_ANY, 0, 0, EW("[2,3,5]", P("a", "[3,4]") P("b", "[2,4,5]"), "a @ b")},
    {"mm_1d_3d", D_ANY, 0, 0, EW("[2,5]", P("a", "[4]") P("b", "[2,4,5]"), "a @ b")},
    /* a batch of 1 broadcasts against a batch of B (torch.matmul); its gradient sums over the batch */
    {"mm_3d_b1_3d", D_ANY, 0, 0, EW("[3,2,5]", P("a", "[1,2,4]") P("b", "[3,4,5]"), "a @ b")},
    {"mm_3d_3d_b1", D_ANY, 0, 0, EW("[3,2,5]", P("a", "[3,2,4]") P("b", "[1,4,5]"), "a @ b")},
    {"mm_b1_b1", D_ANY, 0, 0, EW("[1,2,5]", P("a", "[1,2,4]") P("b", "[1,4,5]"), "a @ b")},
    {"mm_3d_b1_1d", D_ANY, 0, 0, EW("[1,2]", P("a", "[1,2,4]") P("b", "[4]"), "a @ b")},
    {"mm_tA", D_ANY, 0, 0, EW("[3,5]", P("a", "[4,3]") P("b", "[4,5]"), "transpose(a) @ b")},
    {"mm_tB", D_ANY, 0, 0, EW("[3,5]", P("a", "[3,4]") P("b", "[5,4]"), "a @ transpose(b)")},
    {"mm_tAB", D_ANY, 0, 0, EW("[3,5]", P("a", "[4,3]") P("b", "[5,4]"), "transpose(a) @ transpose(b)")},
    {"mm_self", D_ANY, 0, 0, EW("[3,3]", P("a", "[3,3]"), "a @ a")},
    {"mm_chain", D_ANY, 0, 0, EW("[2,2]", P("a", "[2,3]") P("b", "[3,4]") P("c", "[4,2]"), "(a @ b) @ c")},
    {"mm_affine", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,5]") P("w", "[5,4]") P("b", "[4]"), "tanh(a @ w + b)")},
    /* ---- ** with a constant exponent */
    {"pow_2", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** 2")},
    {"pow_3", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** 3")},
    {"pow_0_5", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** 0.5")},
    {"pow_m1", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** -1")},
    {"pow_1_5", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** 1.5")},
    {"pow_m2", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** -2")},
    {"pow_m0_5", D_POS, 0, 0, EW("[2,3]", P("a", "[2,3]"), "a ** -0.5")},
    {"pow_0", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]") P("b", "[2,3]"), "a ** 0 * b + a ** 2")},
    {"pow_1", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3]") P("b", "[2,3]"), "a ** 1 * b")},
    {"pow_expr", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "(a + b) ** 1.5")},
    /* ---- elementwise functions */
    {"exp", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "exp(a)")},
    {"log", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]"), "log(a)")},
    {"sqrt", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]"), "sqrt(a)")},
    {"abs", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "abs(a)")},
    {"tanh", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "tanh(a)")},
    {"sigmoid", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "sigmoid(a)")},
    {"relu", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "relu(a)")},
    {"leaky_relu", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "leaky_relu(a)")},
    {"leaky_relu_slope_kw", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "leaky_relu(a, slope=0.2)")},
    {"leaky_relu_slope_pos", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "leaky_relu(a, 0.3)")},
    {"gelu", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "gelu(a)")},
    {"softplus", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "softplus(a)")},
    {"silu", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "silu(a)")},
    {"maximum", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[3,4]"), "maximum(a, b)")},
    {"maximum_row", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "maximum(a, b)")},
    {"maximum_const", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "maximum(a, 0.1)")},
    {"minimum", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[3,4]"), "minimum(a, b)")},
    {"minimum_outer", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[1,4]"), "minimum(a, b)")},
    {"minimum_kw", D_AWAY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "minimum(b=a, a=-0.1)")},
    {"unary_chain", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "log(sqrt(a) + exp(-b)) * tanh(a * b)")},
    /* ---- comparisons and elementwise (issue 15); comparisons are 0/1 masks without gradient */
    {"cmp_masks", D_AWAY, 0, 0,
     EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a * (a > 0) + (a <= b) * b - (a == a) * (b != 0.5) * a + (b >= a) - (a < -b)")},
    {"where", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "where(a > b, a * b, b - a)")},
    {"where_bcast_num", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[4]"), "where(b < 0.2, exp(a), 0.5)")},
    {"where_nan_branch", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]"), "where(a > 1, log(a - 1), a * a)")},
    {"clamp", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "clamp(a, min=-0.5, max=0.7)")},
    {"clamp_min", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "clamp(a * 2, min=0.1)")},
    {"clamp_max", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "clamp(a, max=0.3)")},
    {"clamp_tensors", D_ANY, 0, 0,
     EW("[3,4]", P("a", "[3,4]") P("b", "[4]") P("c", "[3,1]"), "clamp(a * 2, min=b, max=c)")},
    {"hardtanh", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "hardtanh(a * 2)")},
    {"hardtanh_vals", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "hardtanh(a, min_val=-0.3, max_val=0.5)")},
    {"relu6", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "relu6(a * 5 + 2)")},
    {"hardsigmoid", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "hardsigmoid(a)")},
    {"hardswish", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "hardswish(a)")},
    {"elu", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "elu(a)")},
    {"elu_alpha", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "elu(a, alpha=0.4)")},
    {"selu", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "selu(a)")},
    {"celu", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "celu(a, 1.5)")},
    {"prelu_channels", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]") P("w", "[3]"), "prelu(a, w)")},
    {"prelu_one", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("w", "[1]"), "prelu(a * 2, w)")},
    {"softsign", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "softsign(a)")},
    {"sin_cos", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "sin(a * 3) * cos(b) + cos(a * b)")},
    {"sin_shifted", D_ANY, 0, 0, EW("[5]", P("a", "[5]"), "sin(a * 4 + 20) + cos(a * 2 - 30)")},
    {"square_rsqrt_recip", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]"), "square(a) + rsqrt(a) * 2 + reciprocal(a + 1)")},
    {"erf", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "erf(a)")},
    {"rounding_no_grad", D_ANY, 0, 0,
     EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a * sign(b) + floor(a * 3) * b + ceil(b) + round(a * b * 4) + round(a, decimals=1)")},
    {"pow_tensor", D_POS, 0, 0, EW("[3,4]", P("a", "[3,4]") P("b", "[3,4]"), "a ** b")},
    {"pow_tensor_bcast", D_POS, 0, 0, EW("[3,4]", P("a", "[3,1]") P("b", "[4]"), "a ** (b - 1)")},
    {"pow_num_base", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "2 ** a + (a * a + 1) ** (a * 0.5)")},
    /* ---- normalization and attention (issue 15) */
    {"layer_norm", D_ANY, 0, 0, EW("[3,5]", P("a", "[3,5]") P("w", "[5]") P("b", "[5]"), "layer_norm(a, [5], w, b)")},
    {"layer_norm_2axes", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]") P("w", "[3,4]"), "layer_norm(a * 2, [3, 4], weight=w, eps=0.01)")},
    {"layer_norm_plain", D_ANY, 0, 0, EW("[4]", P("a", "[4]"), "layer_norm(a, 4)")},
    {"group_norm", D_ANY, 0, 0, EW("[2,4,3]", P("a", "[2,4,3]") P("w", "[4]") P("b", "[4]"), "group_norm(a, 2, w, b)")},
    {"group_norm_4d", D_ANY, 0, 0, EW("[2,6,2,2]", P("a", "[2,6,2,2]") P("b", "[6]"), "group_norm(a, 3, bias=b, eps=0.001)")},
    /* ---- batch norm and buffers (issue 15): training mode, the batch's statistics ---- */
#define BN_BUFFERS(c) "buffer rm : f32[" c "] = randn\nbuffer rv : f32[" c "] = uniform(0.5, 2)\n"
    {"batch_norm_2d", D_ANY, 0, 0, EW("[3,2,2,2]", P("a", "[3,2,2,2]") P("w", "[2]") P("b", "[2]") BN_BUFFERS("2"), "batch_norm(a, rm, rv, w, b)")},
    {"batch_norm_rows", D_ANY, 0, 0, EW("[4,3]", P("a", "[4,3]") BN_BUFFERS("3"), "batch_norm(a * 2, rm, rv, momentum=0.5, eps=0.01)")},
    {"group_norm_2d", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]") P("w", "[4]"), "group_norm(a, 1, w)")},
    /* ---- attention (issue 15) */
    {"tril_triu", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]") P("b", "[3,4]"), "tril(a, diagonal=1) + triu(b * a, -1)")},
    {"masked_fill", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "softmax(masked_fill(a, triu(a * 0 + 1, 1), -inf)) + masked_fill(a, r > 0, 2)")},
    {"sdpa", D_ANY, 0, 0, EW("[2,5,3]", P("q", "[2,5,4]") P("k", "[2,7,4]") P("v", "[2,7,3]"), "scaled_dot_product_attention(q, k, v)")},
    {"sdpa_causal", D_ANY, 0, 0, EW("[2,2,6,3]", P("q", "[2,2,6,5]") P("k", "[2,2,6,5]") P("v", "[2,2,6,3]"),
                                    "scaled_dot_product_attention(q * 2, k, v, causal=true, scale=0.7)")},
    {"sdpa_causal_rect", D_ANY, 0, 0, EW("[7,2]", P("q", "[7,3]") P("k", "[4,3]") P("v", "[4,2]"),
                                         "scaled_dot_product_attention(q, k * k, v, causal=true)")},
    /* long rows: several vectors of keys, blocks of query rows and their tails (lower_attn.c) */
    {"sdpa_long", D_ANY, 0, 0, EW("[1,2,9,19]", P("q", "[1,2,9,17]") P("k", "[1,2,37,17]") P("v", "[1,2,37,19]"),
                                  "scaled_dot_product_attention(q, k, v)")},
    {"sdpa_long_causal", D_ANY, 0, 0, EW("[2,23,20]", P("q", "[2,23,18]") P("k", "[2,23,18]") P("v", "[2,23,20]"),
                                         "scaled_dot_product_attention(q, k, v, causal=true, scale=0.3)")},
    /* ---- shape */
    {"transpose_2d", D_ANY, 0, 0, EW("[4,3]", P("a", "[3,4]"), "transpose(a)")},
    {"transpose_2d_perm", D_ANY, 0, 0, EW("[4,3]", P("a", "[3,4]"), "transpose(a, perm=[1,0])")},
    {"transpose_perm_201", D_ANY, 0, 0, EW("[4,2,3]", P("a", "[2,3,4]"), "transpose(a, perm=[2,0,1])")},
    {"transpose_perm_021", D_ANY, 0, 0, EW("[2,4,3]", P("a", "[2,3,4]"), "transpose(a, perm=[0,2,1])")},
    {"transpose_perm_neg", D_ANY, 0, 0, EW("[3,2,4]", P("a", "[2,3,4]"), "transpose(a, perm=[1,-3,-1])")},
    {"transpose_bcast", D_ANY, 0, 0, EW("[4,3]", P("a", "[3,4]") P("b", "[3]"), "transpose(a) * b")},
    {"reshape", D_ANY, 0, 0, EW("[4,6]", P("a", "[2,3,4]"), "reshape(a, [4, -1])")},
    {"reshape_first", D_ANY, 0, 0, EW("[4,3]", P("a", "[6,2]"), "reshape(a, [-1, 3])")},
    {"reshape_flat", D_ANY, 0, 0, EW("[12]", P("a", "[3,4]"), "reshape(a, [-1])")},
    {"reshape_up", D_ANY, 0, 0, EW("[3,4]", P("a", "[12]") P("b", "[4]"), "reshape(a, [3, 4]) * b")},
    {"reshape_3d", D_ANY, 0, 0, EW("[2,2,3]", P("a", "[3,4]"), "reshape(a * a, [2, -1, 3])")},
    {"flatten", D_ANY, 0, 0, EW("[2,12]", P("a", "[2,3,4]"), "flatten(a)")},
    {"flatten_2d", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "flatten(a) * 2")},
    {"flatten_1d", D_ANY, 0, 0, EW("[5]", P("a", "[5]"), "flatten(a) * a")},
    /* ---- reductions */
    {"sum_all", D_ANY, 0, 0, EW("[]", P("a", "[3,4]"), "sum(a * a)")},
    {"sum_ax0", D_ANY, 0, 0, EW("[4]", P("a", "[3,4]"), "sum(a, axis=0)")},
    {"sum_ax1_keep", D_ANY, 0, 0, EW("[3,1]", P("a", "[3,4]"), "sum(a, axis=1, keepdims=true)")},
    {"sum_axneg", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,3,4]"), "sum(a, axis=-1)")},
    {"sum_ax02", D_ANY, 0, 0, EW("[3]", P("a", "[2,3,4]"), "sum(a, axis=[0,2])")},
    {"sum_ax02_keep", D_ANY, 0, 0, EW("[1,3,1]", P("a", "[2,3,4]"), "sum(a, axis=[0,2], keepdims=true)")},
    {"sum_all_keep", D_ANY, 0, 0, EW("[1,1]", P("a", "[2,3]"), "sum(a * a, keepdims=true)")},
    {"sum_pos", D_ANY, 0, 0, EW("[4]", P("a", "[3,4]") P("b", "[4]"), "sum(a * b, 0)")},
    {"sum_1d", D_ANY, 0, 0, EW("[]", P("a", "[5]"), "sum(exp(a), axis=0)")},
    {"mean_all", D_ANY, 0, 0, EW("[]", P("a", "[3,4]"), "mean(a * a)")},
    {"mean_ax1", D_ANY, 0, 0, EW("[3]", P("a", "[3,4]"), "mean(a, axis=1)")},
    {"mean_ax01", D_ANY, 0, 0, EW("[4]", P("a", "[2,3,4]"), "mean(a * a, axis=[0,1])")},
    {"mean_ax02_keep", D_ANY, 0, 0, EW("[1,3,1]", P("a", "[2,3,4]"), "mean(a * a, axis=[0,2], keepdims=true)")},
    {"center", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "(a - mean(a, axis=1, keepdims=true)) ** 2")},
    {"max_all", D_ANY, 0, 0, EW("[]", P("a", "[3,4]"), "max(a)")},
    {"max_ax1", D_ANY, 0, 0, EW("[3]", P("a", "[3,4]"), "max(a, axis=1)")},
    {"max_ax0_keep", D_ANY, 0, 0, EW("[1,4]", P("a", "[3,4]"), "max(a, axis=0, keepdims=true)")},
    {"max_ax02", D_ANY, 0, 0, EW("[3]", P("a", "[2,3,4]"), "max(a, axis=[0,2])")},
    {"max_ax12_keep", D_ANY, 0, 0, EW("[2,1,1]", P("a", "[2,3,4]"), "max(a * 2, axis=[1,2], keepdims=true)")},
    {"max_bcast", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,4]"), "a - max(a, axis=1, keepdims=true)")},
    /* ---- softmax, log_softmax */
    {"softmax", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "softmax(a)")},
    {"softmax_ax0", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "softmax(a, axis=0)")},
    {"softmax_3d_ax1", D_WIDE, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]"), "softmax(a, axis=1)")},
    {"softmax_1d", D_WIDE, 0, 0, EW("[5]", P("a", "[5]"), "softmax(a)")},
    {"log_softmax", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "log_softmax(a)")},
    {"log_softmax_ax0", D_WIDE, 0, 0, EW("[3,4]", P("a", "[3,4]"), "log_softmax(a, axis=0)")},
    {"log_softmax_3d", D_WIDE, 0, 0, EW("[2,3,4]", P("a", "[2,3,4]"), "log_softmax(a, axis=-2)")},
    {"log_softmax_mm", D_ANY, 0, 0, EW("[3,4]", P("a", "[3,5]") P("w", "[5,4]"), "log_softmax(a @ w, axis=1)")},
    /* ---- losses */
    {"mse", D_ANY, 0, 0,
     "model t\ninput t : f32[3,4]\nparam a : f32[3,5] = randn\nparam b : f32[5,4] = randn\n"
     "p = a @ b\nloss = mse(p, t)\noutput p\nminimize loss\n"},
    {"mse_bcast", D_ANY, 0, 0,
     "model t\ninput t : f32[4]\nparam a : f32[3,4] = randn\nloss = mse(a, t)\noutput loss\nminimize loss\n"},
    {"mse_two_params", D_ANY, 0, 0,
     "model t\nparam a : f32[2,3] = randn\nparam b : f32[2,3] = randn\nloss = mse(tanh(a), b)\nminimize loss\n"},
    {"bce", D_WIDE, 0, 0,
     "model t\ninput t : f32[2,3]\nparam a : f32[2,3] = randn\nloss = bce_with_logits(a, t)\nminimize loss\n"},
    {"bce_target_trainable", D_WIDE, 0, 0, /* torch differentiates the target too: dy = -z / n */
     "model t\nparam a : f32[2,3] = randn\nparam t : f32[2,3] = randn\nloss = bce_with_logits(a, t)\nminimize loss\n"},
    {"logreg", D_ANY, 0, 0,
     "model logreg\ninput x : f32[5]\ninput t : f32[3]\nparam w : f32[5, 3] = randn\nparam b : f32[3] = randn\n"
     "z = x @ w + b\nloss = bce_with_logits(z, t)\noutput z\nminimize loss\n"},
    {"cross_entropy", D_WIDE, 5, 0,
     "model t\ninput lab : i32[4]\nparam a : f32[4,5] = randn\nloss = cross_entropy(a, lab)\nminimize loss\n"},
    {"cross_entropy_mlp", D_ANY, 3, 0,
     "model t\nbatch N = 4\ninput x : f32[N, 6]\ninput lab : i32[N]\n"
     "param w1 : f32[6,5] = randn\nparam b1 : f32[5] = randn\nparam w2 : f32[5,3] = randn\nparam b2 : f32[3] = randn\n"
     "h = tanh(x @ w1 + b1)\nlogits = h @ w2 + b2\nloss = cross_entropy(logits, lab)\noutput logits\nminimize loss\n"},
    {"softmax_mse", D_ANY, 0, 0,
     "model t\ninput t : f32[3,4]\nparam a : f32[3,5] = randn\nparam b : f32[5,4] = randn\n"
     "p = softmax(a @ b)\nloss = mse(p, t) + mean(a * a)\noutput p\nminimize loss\n"},
    {"digits_like", D_AWAY, 4, 0,
     "model t\nbatch N = 3\ninput x : f32[N, 5]\ninput lab : i32[N]\n"
     "param w1 : f32[5,6] = randn\nparam b1 : f32[6] = randn\nparam w2 : f32[6,4] = randn\nparam b2 : f32[4] = randn\n"
     "h = gelu((x / 2) @ w1 + b1)\nlogits = h @ w2 + b2\nloss = cross_entropy(logits, lab)\noutput logits, h\n"
     "minimize loss\n"},
    /* ---- detach (FD sees through it: compiled vs evaluator only here; see the detach tests) */
    {"detach", D_ANY, 0, 1, EW("[3,4]", P("a", "[3,4]") P("b", "[4]"), "a * detach(b * b) + b")},
    {"detach_all", D_ANY, 0, 1, EW("[3]", P("a", "[3]") P("b", "[3]"), "detach(a) * b + detach(exp(a))")},
    /* ---- conv2d (NCHW, OIHW), max_pool2d, avg_pool2d */
    {"conv2d", D_ANY, 0, 0,
     "model t\ninput x : f32[2,2,5,5]\ninput r : f32[2,3,3,3]\nparam w : f32[3,2,3,3] = randn\nparam b : f32[3] = randn\n"
     "y = conv2d(x, w, b)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"conv2d_stride_pad", D_ANY, 0, 0,
     "model t\ninput x : f32[1,2,6,6]\ninput r : f32[1,3,3,3]\nparam w : f32[3,2,3,3] = randn\nparam b : f32[3] = randn\n"
     "y = conv2d(x, w, b, stride=2, padding=1)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"conv2d_nobias_dx", D_ANY, 0, 0,
     "model t\ninput r : f32[1,2,3,3]\nparam x : f32[1,2,4,4] = randn\nparam w : f32[2,2,2,2] = randn\n"
     "y = conv2d(x, w)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"conv2d_dx_stride_pad", D_ANY, 0, 0,
     "model t\ninput r : f32[1,3,3,3]\nparam x : f32[1,2,5,5] = randn\nparam w : f32[3,2,3,3] = randn\n"
     "y = conv2d(x, w, stride=2, padding=1)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"conv2d_pad_rect", D_ANY, 0, 0,
     "model t\ninput r : f32[2,2,4,3]\nparam x : f32[2,1,4,3] = randn\nparam w : f32[2,1,3,3] = randn\n"
     "y = conv2d(x, w, padding=1)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"max_pool2d", D_ANY, 0, 0, EW("[1,2,2,2]", P("a", "[1,2,4,4]"), "max_pool2d(a, 2)")},
    {"max_pool2d_overlap", D_ANY, 0, 0, EW("[2,1,3,3]", P("a", "[2,1,4,4]"), "max_pool2d(a, 2, stride=1)")},
    {"max_pool2d_k3s2", D_ANY, 0, 0, EW("[1,2,2,3]", P("a", "[1,2,5,7]"), "max_pool2d(a, k=3, stride=2)")},
    {"avg_pool2d", D_ANY, 0, 0, EW("[1,2,2,2]", P("a", "[1,2,4,4]"), "avg_pool2d(a, 2)")},
    {"avg_pool2d_overlap", D_ANY, 0, 0, EW("[2,1,3,3]", P("a", "[2,1,4,4]"), "avg_pool2d(a * a, 2, stride=1)")},
    {"avg_pool2d_k3s2", D_ANY, 0, 0, EW("[1,1,3,3]", P("a", "[1,1,7,7]"), "avg_pool2d(a, 3, stride=2)")},
    {"cnn", D_ANY, 3, 0,
     "model t\ninput x : f32[2,1,6,6]\ninput lab : i32[2]\nparam w1 : f32[2,1,3,3] = randn\nparam b1 : f32[2] = randn\n"
     "param w2 : f32[8,3] = randn\nparam b2 : f32[3] = randn\n"
     "h = max_pool2d(tanh(conv2d(x, w1, b1, padding=1)), 3)\nlogits = flatten(h) @ w2 + b2\n"
     "loss = cross_entropy(logits, lab)\noutput logits\nminimize loss\n"},
    /* ---- convolution and pooling (issue 15): one row per shape class */
    {"conv_1x1", D_ANY, 0, 0, EW("[2,5,4,4]", P("x", "[2,3,4,4]") P("w", "[5,3,1,1]") P("b", "[5]"), "conv2d(x, w, b)")},
    {"conv_3x3_pad_b1", D_ANY, 0, 0, EW("[1,3,5,5]", P("x", "[1,2,5,5]") P("w", "[3,2,3,3]"), "conv2d(x, w, padding=1)")},
    {"conv_strided_hw", D_ANY, 0, 0,
     EW("[2,3,3,4]", P("x", "[2,2,7,6]") P("w", "[3,2,3,3]"), "conv2d(x, w, stride=[2, 1])")},
    {"conv_dilated", D_ANY, 0, 0,
     EW("[1,2,5,5]", P("x", "[1,2,7,7]") P("w", "[2,2,3,3]"), "conv2d(x, w, dilation=2, padding=1)")},
    {"conv_grouped", D_ANY, 0, 0,
     EW("[2,6,5,5]", P("x", "[2,4,5,5]") P("w", "[6,2,3,3]") P("b", "[6]"), "conv2d(x, w, b, padding=1, groups=2)")},
    {"conv_depthwise_s2", D_ANY, 0, 0,
     EW("[2,3,3,3]", P("x", "[2,3,6,6]") P("w", "[3,1,3,3]"), "conv2d(x, w, stride=2, padding=1, groups=3)")},
    {"conv_10x4_s2", D_ANY, 0, 0,
     EW("[1,4,10,6]", P("x", "[1,1,20,12]") P("w", "[4,1,10,4]"), "conv2d(x, w, stride=2, padding=[4, 1])")},
    {"conv_same_even", D_ANY, 0, 0,
     EW("[1,2,5,6]", P("x", "[1,2,5,6]") P("w", "[2,2,2,4]"), "conv2d(x, w, padding=\"same\")")},
    {"conv_same_dilated", D_ANY, 0, 0,
     EW("[1,1,6,6]", P("x", "[1,1,6,6]") P("w", "[1,1,3,3]"), "conv2d(x, w, padding=\"same\", dilation=2)")},
    /* rows wider than two vectors (issue 17: lower_conv.c's column blocks, plain loads
     * inside, masked at the padding and in a row's last partial block; 6-channel
     * register blocks and a remainder) */
    {"conv_wide_pad", D_ANY, 0, 0,
     EW("[1,8,4,37]", P("x", "[1,3,4,37]") P("w", "[8,3,3,3]") P("b", "[8]"), "conv2d(x, w, b, padding=1)")},
    {"conv_wide_s2_dilated", D_ANY, 0, 0,
     EW("[1,7,5,21]", P("x", "[1,2,5,41]") P("w", "[7,2,3,3]"), "conv2d(x, w, stride=[1, 2], padding=[1, 2], dilation=[1, 2])")},
    {"conv_wide_same_even", D_ANY, 0, 0,
     EW("[2,3,3,20]", P("x", "[2,2,3,20]") P("w", "[3,2,2,4]"), "conv2d(x, w, padding=\"same\")")},
    {"conv1d", D_ANY, 0, 0,
     EW("[2,4,5]", P("x", "[2,3,9]") P("w", "[4,3,3]") P("b", "[4]"), "conv1d(x, w, b, stride=2, padding=1)")},
    {"conv1d_grouped_same", D_ANY, 0, 0,
     EW("[1,4,8]", P("x", "[1,4,8]") P("w", "[4,2,3]"), "conv1d(x, w, padding=\"same\", dilation=2, groups=2)")},
    {"conv_transpose2d", D_ANY, 0, 0,
     EW("[1,3,6,6]", P("x", "[1,2,3,3]") P("w", "[2,3,3,3]") P("b", "[3]"),
        "conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)")},
    {"conv_transpose2d_grouped", D_ANY, 0, 0,
     EW("[2,2,5,6]", P("x", "[2,4,3,4]") P("w", "[4,1,2,2]"), "conv_transpose2d(x, w, groups=2, dilation=2)")},
    {"max_pool2d_pad", D_ANY, 0, 0, EW("[1,2,3,3]", P("a", "[1,2,5,5]"), "max_pool2d(a, 3, stride=2, padding=1)")},
    {"max_pool2d_rect", D_ANY, 0, 0, EW("[1,1,2,2]", P("a", "[1,1,4,6]"), "max_pool2d(a, [2, 3])")},
    {"avg_pool2d_pad", D_ANY, 0, 0, EW("[2,1,2,3]", P("a", "[2,1,4,5]"), "avg_pool2d(a * a, [3, 2], padding=[1, 1])")},
    {"global_avg_pool", D_ANY, 0, 0, EW("[2,3,1,1]", P("a", "[2,3,4,5]"), "global_avg_pool(a * a)")},
    {"adaptive_avg_pool2d", D_ANY, 0, 0, EW("[1,2,1,1]", P("a", "[1,2,3,3]"), "adaptive_avg_pool2d(a, [1, 1])")},
    /* ---- larger shapes, always at -O2: vector bodies and scalar tails of the generated loops */
    {"big_elementwise", D_POS, 0, 0,
     EW("[5,37]", P("a", "[5,37]") P("b", "[37]") P("c", "[5,1]"),
        "gelu(a - b) * tanh(c) + sqrt(a) / b + log(a * c) - sigmoid(a) ** 2 + softplus(-a) + exp(-a * b)")},
    {"big_matmul", D_ANY, 0, 0, EW("[9,13]", P("a", "[9,17]") P("b", "[17,13]") P("c", "[13]"), "(a @ b) * c")},
    {"big_matmul_t", D_ANY, 0, 0,
     EW("[11,9]", P("a", "[17,11]") P("b", "[9,17]"), "transpose(a) @ transpose(b)")},
    {"big_bmm", D_ANY, 0, 0, EW("[3,5,7]", P("a", "[3,5,19]") P("b", "[3,19,7]"), "a @ b")},
    {"big_softmax", D_WIDE, 0, 0, EW("[4,37]", P("a", "[4,37]"), "softmax(a) + log_softmax(a, axis=0)")},
    {"big_reduce", D_ANY, 0, 0,
     EW("[37]", P("a", "[3,5,37]"), "max(a, axis=[0,1]) + mean(a * a, axis=[0,1]) + sum(abs(a), axis=[1,0])")},
    {"big_ce", D_ANY, 19, 0,
     "model t\ninput x : f32[21, 9]\ninput lab : i32[21]\nparam w : f32[9, 19] = randn\nparam b : f32[19] = randn\n"
     "logits = relu(x @ w) + b\nloss = cross_entropy(logits, lab)\noutput logits\nminimize loss\n"},
    /* ---- reductions and losses (issue 15) ---- */
    {"min_ax1", D_ANY, 0, 0, EW("[3]", P("a", "[3,4]"), "min(a, axis=1)")},
    {"min_all", D_ANY, 0, 0, EW("[]", P("a", "[3,4]"), "min(a * 2)")},
    {"min_ax02_keep", D_ANY, 0, 0, EW("[1,3,1]", P("a", "[2,3,4]"), "min(a, axis=[0,2], keepdims=true)")},
    {"prod_ax1", D_POS, 0, 0, EW("[3]", P("a", "[3,4]"), "prod(a, axis=1)")},
    {"prod_all", D_ANY, 0, 0, EW("[]", P("a", "[2,3]"), "prod(a)")},
    {"prod_ax0_keep", D_ANY, 0, 0, EW("[1,4]", P("a", "[3,4]") P("b", "[3,4]"), "prod(a * b, axis=0, keepdims=true)")},
    {"var_ax1", D_ANY, 0, 0, EW("[3]", P("a", "[3,5]"), "var(a, axis=1)")},
    {"var_all_c0", D_ANY, 0, 0, EW("[]", P("a", "[2,3]"), "var(a, correction=0)")},
    {"std_ax0_keep", D_ANY, 0, 0, EW("[1,4]", P("a", "[3,4]"), "std(a, axis=0, keepdims=true)")},
    {"std_ax12", D_ANY, 0, 0, EW("[2]", P("a", "[2,3,4]"), "std(a, axis=[1,2], correction=2)")},
    {"logsumexp_ax1", D_WIDE, 0, 0, EW("[3]", P("a", "[3,5]"), "logsumexp(a, axis=1)")},
    {"logsumexp_all_keep", D_WIDE, 0, 0, EW("[1,1]", P("a", "[3,5]"), "logsumexp(a, keepdims=true)")},
    {"norm2_ax1", D_ANY, 0, 0, EW("[3]", P("a", "[3,4]"), "norm(a, axis=1)")},
    {"norm1", D_AWAY, 0, 0, EW("[]", P("a", "[3,4]"), "norm(a, 1)")},
    {"norm_inf_ax0", D_ANY, 0, 0, EW("[4]", P("a", "[3,4]"), "norm(a, inf, axis=0)")},
    {"argmax_beside", D_ANY, 0, 0, /* an i32 output beside the loss: no gradient, exact indices */
     "model t\ninput r : f32[3]\nparam a : f32[3,4] = randn\ni = argmax(a, axis=1)\nj = argmin(a)\n"
     "y = max(a, axis=1)\nloss = sum(y * r)\noutput i, j, y\nminimize loss\n"},
    {"l1_loss", D_ANY, 0, 0,
     "model t\ninput t : f32[3,4]\nparam a : f32[3,4] = randn\nloss = l1_loss(a, t)\nminimize loss\n"},
    {"smooth_l1_sum", D_ANY, 0, 0,
     "model t\ninput t : f32[3,4]\nparam a : f32[3,4] = randn\n"
     "loss = smooth_l1_loss(a, t, reduction=\"sum\", beta=0.5)\nminimize loss\n"},
    {"huber_none", D_ANY, 0, 0,
     "model t\ninput t : f32[3,4]\ninput r : f32[3,4]\nparam a : f32[3,4] = randn\n"
     "loss = sum(huber_loss(a, t, reduction=\"none\", delta=0.7) * r)\nminimize loss\n"},
    {"kl_div_batchmean", D_ANY, 0, 0,
     "model t\nparam a : f32[3,4] = randn\nparam b : f32[3,4] = randn\n"
     "loss = kl_div(log_softmax(a), softmax(b), reduction=\"batchmean\")\nminimize loss\n"},
    {"kl_div_log_target", D_ANY, 0, 0,
     "model t\nparam a : f32[3,4] = randn\nparam b : f32[3,4] = randn\n"
     "loss = kl_div(log_softmax(a), log_softmax(b), log_target=true)\nminimize loss\n"},
    {"nll_loss_weight", D_WIDE, 4, 0,
     "model t\ninput lab : i32[5]\ninput wt : f32[4]\nparam a : f32[5,4] = randn\n"
     "loss = nll_loss(log_softmax(a), lab, weight=wt * wt + 0.5)\nminimize loss\n"},
    {"ce_weight_smoothing", D_WIDE, 4, 0,
     "model t\ninput lab : i32[5]\ninput wt : f32[4]\nparam a : f32[5,4] = randn\n"
     "loss = cross_entropy(a, lab, wt * wt + 0.5, label_smoothing=0.1)\nminimize loss\n"},
    {"ce_soft_none", D_WIDE, 0, 0,
     "model t\ninput r : f32[5]\nparam a : f32[5,4] = randn\nparam b : f32[5,4] = randn\n"
     "loss = sum(cross_entropy(a, softmax(b), reduction=\"none\", label_smoothing=0.2) * r)\nminimize loss\n"},
    {"ce_sum", D_WIDE, 4, 0,
     "model t\ninput lab : i32[5]\nparam a : f32[5,4] = randn\nloss = cross_entropy(a, lab, reduction=\"sum\")\n"
     "minimize loss\n"},
    /* ---- indexing and assembling (issue 15) */
    {"concat_axis1", D_ANY, 0, 0, EW("[2,7]", P("a", "[2,3]") P("b", "[2,4]"), "concat([a * a, b], axis=1)")},
    {"cat_three_axis0", D_ANY, 0, 0, EW("[6,3]", P("a", "[1,3]") P("b", "[2,3]") P("c", "[3,3]"), "cat([a, tanh(b), c])")},
    {"cat_neg_axis_3d", D_ANY, 0, 0, EW("[2,3,5]", P("a", "[2,3,2]") P("b", "[2,3,3]"), "cat([a, b * narrow(a, 2, 0, 1)], axis=-1)")},
    {"stack_axis1", D_ANY, 0, 0, EW("[3,2,4]", P("a", "[3,4]") P("b", "[3,4]"), "stack([a, b * b], axis=1)")},
    {"narrow_neg", D_ANY, 0, 0, EW("[2,3]", P("a", "[2,6]"), "narrow(a * a, 1, -4, 3)")},
    {"squeeze_unsqueeze", D_ANY, 0, 0, EW("[3,1,4]", P("a", "[1,3,4]"), "unsqueeze(squeeze(a * a), 1)")},
    {"expand_lead", D_ANY, 0, 0, EW("[2,3,4]", P("a", "[3,1]"), "expand(a * a, [2, -1, 4])")},
    {"repeat_2d", D_ANY, 0, 0, EW("[2,6,4]", P("a", "[3,2]"), "repeat(tanh(a), [2, 2, 2])")},
    {"pad_constant", D_ANY, 0, 0, EW("[2,4,7]", P("a", "[2,3,4]"), "pad(a * a, [1, 2, 0, 1], value=0.5)")},
    {"pad_crop", D_ANY, 0, 0, EW("[3,3]", P("a", "[3,5]"), "pad(a, [-1, -1])")},
    /* ---- indexing II (issue 15): i32 index tensors, x[...], split/chunk, pad modes ---- */
    {"embedding_ids", D_ANY, 5, 0,
     "model t\ninput ids : i32[3, 4]\ninput r : f32[3, 4, 2]\nparam tab : f32[5, 2] = randn\n"
     "y = embedding(ids, tab)\nloss = sum(y * y * r)\noutput y\nminimize loss\n"},
    {"gather_axis1", D_ANY, 3, 0,
     "model t\ninput ix : i32[4, 2]\ninput r : f32[4, 2]\nparam a : f32[4, 3] = randn\n"
     "y = gather(a * a, 1, ix)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"one_hot_mask", D_ANY, 4, 0,
     "model t\ninput ids : i32[2, 3]\ninput r : f32[2, 3, 4]\nparam a : f32[2, 3, 4] = randn\n"
     "y = one_hot(ids, 4) * a * a\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"index_slices", D_ANY, 0, 0, EW("[2,2]", P("a", "[4,3,5]"), "tanh(a)[1:4:2, -2:, 0] * a[..., ::3][0, 1:]")},
    {"split_chunk", D_ANY, 0, 0,
     "model t\ninput r : f32[3, 2]\nparam a : f32[3, 5] = randn\np, q, s = split(a * a, 2, axis=1)\n"
     "u, v = chunk(p, 2, axis=-1)\ny = q * u + concat([s, v], axis=1)\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"embedding_sliced_ids", D_ANY, 6, 0,
     "model t\ninput ids : i32[2, 5]\ninput r : f32[2, 2, 3]\nparam tab : f32[6, 3] = randn\n"
     "a, b = split(ids[:, 1:], 2, axis=1)\ny = embedding(a, tab) * embedding(b, tab)\nloss = sum(y * r)\n"
     "output y\nminimize loss\n"},
    {"pad_reflect", D_ANY, 0, 0, EW("[1,2,7,8]", P("a", "[1,2,4,5]"), "pad(a * a, [2, 1, 3, 0], mode=\"reflect\")")},
    {"pad_replicate", D_ANY, 0, 0, EW("[2,2,8]", P("a", "[2,2,3]"), "pad(a * a, [4, 1], \"replicate\")")},
    /* ---- dropout and modes (issue 15): training mode, the runtime's step seed (test_grad
     * gives the evaluator the same); the masks are constant, so finite differences see the
     * gradient dy * keep / (1 - p) */
    {"dropout", D_ANY, 0, 0, EW("[6,7]", P("a", "[6,7]"), "dropout(a, p=0.3)")},
    {"dropout_chain", D_ANY, 0, 0, EW("[5,9]", P("a", "[5,9]") P("b", "[9]"), "dropout(tanh(a) * b, 0.6) + a")},
    /* ---- dtype conversions (issue 16): no derivative of their own; the gradient flows
     * beside them, to the f32 operands of their users (a float(ids) factor, int() ids) */
    {"float_ids", D_ANY, 5, 0,
     "model t\ninput ids : i32[2, 3]\ninput r : f32[2, 3]\nparam a : f32[2, 3] = randn\nparam b : f32[3] = randn\n"
     "y = a * float(ids) + b * float(ids) * a\nloss = sum(y * r)\noutput y\nminimize loss\n"},
    {"int_ids_labels", D_ANY, 4, 0, /* lab in [0, 4): k = int(lab / 2 + 0.25) in {0, 1} */
     "model t\ninput lab : i32[5]\nparam a : f32[5, 3] = randn\nk = int(float(lab) * 0.5 + 0.25)\n"
     "y = embedding(k, a)\nz = gather(a, 1, reshape(k, [5, 1]))\n"
     "loss = cross_entropy(a * float(reshape(k, [5, 1])), k) + sum(y * y) + sum(z)\noutput k, y\nminimize loss\n"},
};
#define NCASES (sizeof cases / sizeof cases[0])

#endif
