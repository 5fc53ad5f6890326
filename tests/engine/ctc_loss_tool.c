/* Prints the engine's CTC loss and its gradient w.r.t. the logits, for tests/conformance/test_ctc_torch.py.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * stdin:  T O L, then T*O logits (row-major, frame by frame), then L tokens (1..O-1; 0 is the blank)
 * stdout: the loss (-log p, "inf" when no alignment exists), then T*O gradient values
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train_internal.h"

int main(void) {
  int T, O, L;
  if (scanf("%d %d %d", &T, &O, &L) != 3 || T <= 0 || O < 2 || L < 0 || T > 100000 || O > 100000) {
    fprintf(stderr, "ctc_loss_tool: expected 'T O L' with T >= 1, O >= 2, L >= 0\n");
    return 2;
  }
  float *z = malloc(sizeof(float) * (size_t)T * O), *dz = calloc((size_t)T * O, sizeof(float));
  int *tok = malloc(sizeof(int) * (size_t)(L > 0 ? L : 1));
  if (!z || !dz || !tok)
    return 2;
  for (long i = 0; i < (long)T * O; i++)
    if (scanf("%f", &z[i]) != 1) {
      fprintf(stderr, "ctc_loss_tool: logit %ld missing\n", i);
      return 2;
    }
  for (int i = 0; i < L; i++)
    if (scanf("%d", &tok[i]) != 1 || tok[i] < 1 || tok[i] >= O) {
      fprintf(stderr, "ctc_loss_tool: token %d missing or outside 1..%d\n", i, O - 1);
      return 2;
    }
  double loss = rnn_loss_ctc(z, (size_t)O, T, O, tok, L, 1.0f, dz, (size_t)O);
  if (isinf(loss))
    printf("inf\n");
  else
    printf("%.10g\n", loss);
  for (long i = 0; i < (long)T * O; i++)
    printf("%.9g\n", dz[i]);
  free(z);
  free(dz);
  free(tok);
  return isnan(loss) ? 1 : 0;
}
