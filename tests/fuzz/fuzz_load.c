/* Fuzz target of the model loader (libFuzzer entry point; also driven by fuzz_main.c with gcc).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Random bytes almost never carry a valid CRC-32, which would stop every input at the checksum
 * check. So each input is loaded three times: as it is, then with the header's file size set to the
 * input's size and the CRC recomputed, so that the structural checks behind the checksum are
 * reached. Whatever loads must save and load again to an identical file (the writer and the reader
 * agree); a disagreement aborts, which the fuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fuzz_crc32(const uint8_t *p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void check_round_trip(rnn_model *m) {
  void *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  char err[256];
  if (rnn_model_save_memory(m, &a, &na) != RNN_OK) abort();
  rnn_model *r = rnn_model_load_memory(a, na, err, sizeof err);
  if (!r) abort();
  if (rnn_model_save_memory(r, &b, &nb) != RNN_OK || na != nb || memcmp(a, b, na) != 0) abort();
  rnn_model_unref(r);
  free(a);
  free(b);
}

static void load_one(const uint8_t *data, size_t size) {
  char err[512];
  err[0] = '\0';
  rnn_model *m = rnn_model_load_memory(data, size, err, sizeof err);
  if (m) {
    check_round_trip(m);
    rnn_model_unref(m);
  } else if (!err[0]) {
    abort(); /* every failure must say why */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load_one(data, size);
  if (size < 84) return 0;
  uint8_t *copy = malloc(size);
  if (!copy) return 0;
  memcpy(copy, data, size);
  put_le(copy + 16, size, 8);
  put_le(copy + size - 4, fuzz_crc32(copy, size - 4), 4);
  load_one(copy, size);
  free(copy);
  return 0;
}
