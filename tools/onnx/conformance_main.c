/* conformance_main.c — onnx_conformance: the ONNX backend test data through gradc (see
 * conformance.c), one child process per test (a crash or a hang is that test's failure,
 * not the run's), two at a time by default. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "conformance.h"
#include "gradc/onnx.h"

#define DEFAULT_DATA "/usr/include/onnx/backend/test/data"
#define TIMEOUT_S 60

static const char *const status_name[] = {"pass", "fail", "unsupported"};

/* The operators issue 16 lists: a test is in scope when it uses only these. */
static const char *const listed =
    " Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Celu Clip Concat Constant ConstantOfShape"
    " Conv ConvTranspose Cos CumSum DepthToSpace Div Dropout Einsum Elu Equal Erf Exp Expand Flatten Floor Gather"
    " GatherElements Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual HardSigmoid HardSwish Hardmax"
    " Identity InstanceNormalization LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max MaxPool"
    " Mean Min Mod Mul Neg NegativeLogLikelihoodLoss Not OneHot Or Pad Pow PRelu Range Reciprocal ReduceL1 ReduceL2"
    " ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Round"
    " Selu Shape Sigmoid Sign Sin Size Slice Softmax SoftmaxCrossEntropyLoss Softplus Softsign SpaceToDepth Split"
    " Sqrt Squeeze Sub Sum Tanh ThresholdedRelu Tile Transpose Trilu Unsqueeze Where Xor ";

static bool in_scope(const char *model) {
  char ops[4096], err[1024], word[128];
  uint64_t types;
  if (gc_onnx_describe(model, ops, sizeof ops, &types, err, sizeof err)) return false;
  const uint64_t ok = 1ull << 1 | 1ull << 6 | 1ull << 7 | 1ull << 9;
  if (types & ~ok) return false;
  for (char *p = ops; *p;) {
    size_t n = strcspn(p, " ");
    snprintf(word, sizeof word, " %.*s ", (int)n, p);
    if (!strstr(listed, word)) return false;
    p += n + (p[n] == ' ');
  }
  return true;
}

typedef struct {
  char suite[64], name[200];
  int status;
  bool scope;
  char reason[512];
} Result;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The tests of a suite, sorted. */
static int list_tests(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char **names = NULL;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, "test_", 5)) continue;
    names = realloc(names, (size_t)(n + 1) * sizeof *names);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, by_name);
  *out = names;
  return n;
}

/* One test in a child: its status as the exit code, its reason through the pipe. */
static pid_t start(const char *testdir, int fd[2]) {
  if (pipe(fd)) return -1;
  pid_t pid = fork();
  if (pid) { close(fd[1]); return pid; }
  close(fd[0]);
  alarm(TIMEOUT_S);
  char reason[512] = "";
  const char *base = getenv("TMPDIR");
  char tdir[4096];
  snprintf(tdir, sizeof tdir, "%s/gradc-onnx-XXXXXX", base && *base ? base : "/tmp");
  char *t = mkdtemp(tdir);
  int st = t ? conf_run_test(testdir, t, reason, sizeof reason) : CONF_FAIL;
  if (t) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t);
    if (system(cmd)) {}
  }
  for (char *p = reason; *p; p++)
    if (*p == '\n' || *p == '|') *p = ' ';
  if (write(fd[1], reason, strlen(reason)) < 0) {}
  _exit(st);
}

/* The child's outcome. */
static void finish(pid_t pid, int fd, Result *r) {
  ssize_t n = read(fd, r->reason, sizeof r->reason - 1);
  r->reason[n > 0 ? n : 0] = 0;
  close(fd);
  int ws;
  waitpid(pid, &ws, 0);
  if (WIFEXITED(ws) && WEXITSTATUS(ws) <= CONF_UNSUPPORTED) r->status = WEXITSTATUS(ws);
  else {
    r->status = CONF_FAIL;
    snprintf(r->reason, sizeof r->reason, "%s %d", WIFSIGNALED(ws) ? "crashed: signal" : "exit",
             WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
  }
}

static void write_table(FILE *f, Result *r, int n, const char *const *suites, int nsuites) {
  fprintf(f, "# ONNX backend tests through gradc\n\n"
             "Written by `build/bin/onnx_conformance -o tests/onnx/conformance.md` on Debian's libonnx-testdata\n"
             "(ONNX 1.12). A test is *in scope* when its operators are all in issue 16's list and its tensors\n"
             "are float, int32, int64 or bool. Tolerance: rtol 1e-3, atol 1e-7. `ctest -R onnx_conformance`\n"
             "fails when a test marked pass here stops passing.\n\n"
             "| suite | tests | in scope | pass (in scope) | fail (in scope) | unsupported (in scope) |\n|---|---|---|---|---|---|\n");
  for (int s = 0; s < nsuites; s++) {
    int c[2][3] = {{0}}, tot = 0, scope = 0;
    for (int i = 0; i < n; i++)
      if (!strcmp(r[i].suite, suites[s])) tot++, scope += r[i].scope, c[r[i].scope][r[i].status]++;
    fprintf(f, "| %s | %d | %d | %d (%d) | %d (%d) | %d (%d) |\n", suites[s], tot, scope, c[0][0] + c[1][0], c[1][0],
            c[0][1] + c[1][1], c[1][1], c[0][2] + c[1][2], c[1][2]);
  }
  fprintf(f, "\n| suite | test | status | in scope | reason |\n|---|---|---|---|---|\n");
  for (int i = 0; i < n; i++)
    fprintf(f, "| %s | %s | %s | %s | %s |\n", r[i].suite, r[i].name, status_name[r[i].status], r[i].scope ? "yes" : "no",
            r[i].reason);
}

/* Tests marked pass in a table written before that do not pass now; -1 if unreadable. */
static int regressions(const char *path, const Result *r, int n) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[2048], suite[64], name[200], status[32];
  int bad = 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "| %63s | %199s | %31s |", suite, name, status) != 3 || strcmp(status, "pass")) continue;
    for (int i = 0; i < n; i++)
      if (!strcmp(r[i].suite, suite) && !strcmp(r[i].name, name) && r[i].status != CONF_PASS) {
        fprintf(stderr, "regression: %s/%s passed, now %s: %s\n", suite, name, status_name[r[i].status], r[i].reason);
        bad++;
      }
  }
  fclose(f);
  return bad;
}

int main(int argc, char **argv) {
  const char *data = DEFAULT_DATA, *out = NULL, *expect = NULL, *only = NULL;
  const char *suites[8];
  int nsuites = 0, jobs = 2;
  bool verbose = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
    else if (!strcmp(argv[i], "--suite") && i + 1 < argc && nsuites < 8) suites[nsuites++] = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--expect") && i + 1 < argc) expect = argv[++i];
    else if (!strcmp(argv[i], "-j") && i + 1 < argc) jobs = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
    else if (!strcmp(argv[i], "-v")) verbose = true;
    else {
      fprintf(stderr, "usage: onnx_conformance [--data DIR] [--suite S]... [--only SUBSTRING] [-j N] [-o TABLE.md] "
                      "[--expect TABLE.md] [-v]\n");
      return 2;
    }
  }
  if (!nsuites) {
    static const char *const all[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    for (int s = 0; s < 4; s++) suites[nsuites++] = all[s];
  }
  Result *res = NULL;
  int n = 0;
  for (int s = 0; s < nsuites; s++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", data, suites[s]);
    char **names;
    int cnt = list_tests(dir, &names);
    if (cnt < 0) {
      fprintf(stderr, "onnx_conformance: cannot read %s (install libonnx-testdata)\n", dir);
      return 1;
    }
    res = realloc(res, (size_t)(n + cnt) * sizeof *res);
    pid_t pids[16];
    int fds[16], slot_of[16], running = 0;
    for (int i = 0; i <= cnt || running;) {
      if (i < cnt && running < jobs && (!only || strstr(names[i], only))) {
        Result *r = &res[n];
        memset(r, 0, sizeof *r);
        snprintf(r->suite, sizeof r->suite, "%s", suites[s]);
        snprintf(r->name, sizeof r->name, "%s", names[i]);
        char testdir[4400], model[4500];
        snprintf(testdir, sizeof testdir, "%s/%s", dir, names[i]);
        snprintf(model, sizeof model, "%s/model.onnx", testdir);
        r->scope = in_scope(model);
        int fd[2];
        pids[running] = start(testdir, fd);
        fds[running] = fd[0], slot_of[running++] = n++;
        i++;
        continue;
      }
      if (i < cnt && only && !strstr(names[i], only)) { i++; continue; }
      if (!running) { if (i >= cnt) break; continue; }
      /* the pool is full or nothing is left to start: wait for the oldest child */
      Result *r = &res[slot_of[0]];
      finish(pids[0], fds[0], r);
      if (verbose || r->status != CONF_PASS)
        printf("%-6s %s/%s%s %s\n", status_name[r->status], r->suite, r->name, r->scope ? "" : " (out of scope)", r->reason);
      memmove(pids, pids + 1, (size_t)(running - 1) * sizeof *pids);
      memmove(fds, fds + 1, (size_t)(running - 1) * sizeof *fds);
      memmove(slot_of, slot_of + 1, (size_t)(running - 1) * sizeof *slot_of);
      running--;
    }
    for (int i = 0; i < cnt; i++) free(names[i]);
    free(names);
  }
  write_table(stdout, res, n, suites, nsuites);
  if (out) {
    FILE *f = fopen(out, "w");
    if (!f) return perror(out), 1;
    write_table(f, res, n, suites, nsuites);
    fclose(f);
  }
  int bad = expect ? regressions(expect, res, n) : 0;
  free(res);
  if (bad < 0) return fprintf(stderr, "onnx_conformance: cannot read %s\n", expect), 1;
  return bad ? 1 : 0;
}
