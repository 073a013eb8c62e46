/* One XGBoost library on issue 28's work: 100 rounds of pipeline.yaml's `xgb`
 * (multi:softprob, hist, depth 4, eta 0.1, subsample 0.8, colsample 0.5,
 * seed 0, one thread) on each fold file that folds.py wrote, through the C
 * API alone, so that libraries built differently can be timed on the same
 * calls. run.sh links it against each library. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <math.h>
#include <xgboost/c_api.h>
#define CK(x) if ((x) != 0) { fprintf(stderr, "%s\n", XGBGetLastError()); exit(1); }
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc, char **argv) {
  double total = 0;
  for (int a = 1; a < argc; a++) {
    FILE *f = fopen(argv[a], "rb"); int shape[2]; fread(shape, 4, 2, f);
    int n = shape[0], p = shape[1];
    float *x = malloc(sizeof(float) * n * p), *y = malloc(sizeof(float) * n);
    fread(x, 4, (size_t)n * p, f); fread(y, 4, n, f); fclose(f);
    double t0 = now();
    DMatrixHandle d; CK(XGDMatrixCreateFromMat(x, n, p, NAN, &d));
    CK(XGDMatrixSetFloatInfo(d, "label", y, n));
    BoosterHandle b; CK(XGBoosterCreate(&d, 1, &b));
    const char *kv[][2] = {{"objective","multi:softprob"},{"num_class","8"},{"max_depth","4"},{"eta","0.1"},
      {"subsample","0.8"},{"colsample_bytree","0.5"},{"seed","0"},{"tree_method","hist"},{"nthread","1"},{"verbosity","0"}};
    for (int i = 0; i < 10; i++) CK(XGBoosterSetParam(b, kv[i][0], kv[i][1]));
    for (int r = 0; r < 100; r++) CK(XGBoosterUpdateOneIter(b, r, d));
    double t = now() - t0; total += t;
        XGBoosterFree(b); XGDMatrixFree(d); free(x); free(y);
  }
  printf("total %.2f s\n", total);
  return 0;
}
