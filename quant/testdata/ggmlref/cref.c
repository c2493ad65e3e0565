#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-quants.h"
#include "ggml-impl.h"
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); exit(3); }
size_t ggml_row_size(enum ggml_type t, int64_t ne) { exit(4); }
const char * ggml_type_name(enum ggml_type t) { return "?"; }
size_t ggml_type_size(enum ggml_type t) { exit(5); }
static unsigned char * readall(size_t * n) {
    size_t cap = 1<<20, len = 0; unsigned char * b = malloc(cap);
    size_t r; while ((r = fread(b+len, 1, cap-len, stdin)) > 0) { len += r; if (len == cap) { cap *= 2; b = realloc(b, cap);} }
    *n = len; return b;
}
int main(int argc, char ** argv) {
    int deq = strcmp(argv[1], "deq") == 0; int t = atoi(argv[2]);
    size_t n; unsigned char * in = readall(&n);
    int bs = 0, be = 0;
    switch (t) { case 2: bs=18; be=32; break; case 3: bs=20; be=32; break; case 6: bs=22; be=32; break; case 7: bs=24; be=32; break;
      case 8: bs=34; be=32; break; case 10: bs=84; be=256; break; case 11: bs=110; be=256; break; case 12: bs=144; be=256; break;
      case 13: bs=176; be=256; break; case 14: bs=210; be=256; break; case 15: bs=292; be=256; break; case 1: bs=2; be=1; break; case 30: bs=2; be=1; break; }
    if (deq) {
        int64_t k = n / bs * be; float * y = malloc(k*4);
        switch (t) {
        case 1: for (int64_t i=0;i<k;i++) y[i] = GGML_FP16_TO_FP32(((ggml_fp16_t*)in)[i]); break;
        case 30: for (int64_t i=0;i<k;i++) y[i] = GGML_BF16_TO_FP32(((ggml_bf16_t*)in)[i]); break;
        case 2: dequantize_row_q4_0((void*)in, y, k); break; case 3: dequantize_row_q4_1((void*)in, y, k); break;
        case 6: dequantize_row_q5_0((void*)in, y, k); break; case 7: dequantize_row_q5_1((void*)in, y, k); break;
        case 8: dequantize_row_q8_0((void*)in, y, k); break; case 10: dequantize_row_q2_K((void*)in, y, k); break;
        case 11: dequantize_row_q3_K((void*)in, y, k); break; case 12: dequantize_row_q4_K((void*)in, y, k); break;
        case 13: dequantize_row_q5_K((void*)in, y, k); break; case 14: dequantize_row_q6_K((void*)in, y, k); break;
        case 15: dequantize_row_q8_K((void*)in, y, k); break;
        }
        fwrite(y, 4, k, stdout);
    } else {
        int64_t k = n / 4; size_t ob = k / be * bs; unsigned char * y = calloc(ob, 1); const float * x = (const float*)in;
        switch (t) {
        case 1: for (int64_t i=0;i<k;i++) ((ggml_fp16_t*)y)[i] = GGML_FP32_TO_FP16(x[i]); break;
        case 30: for (int64_t i=0;i<k;i++) ((ggml_bf16_t*)y)[i] = GGML_FP32_TO_BF16(x[i]); break;
        case 2: quantize_row_q4_0_ref(x, (void*)y, k); break; case 3: quantize_row_q4_1_ref(x, (void*)y, k); break;
        case 6: quantize_row_q5_0_ref(x, (void*)y, k); break; case 7: quantize_row_q5_1_ref(x, (void*)y, k); break;
        case 8: quantize_row_q8_0_ref(x, (void*)y, k); break; case 10: quantize_row_q2_K_ref(x, (void*)y, k); break;
        case 11: quantize_row_q3_K_ref(x, (void*)y, k); break; case 12: quantize_row_q4_K_ref(x, (void*)y, k); break;
        case 13: quantize_row_q5_K_ref(x, (void*)y, k); break; case 14: quantize_row_q6_K_ref(x, (void*)y, k); break;
        case 15: quantize_row_q8_K_ref(x, (void*)y, k); break;
        }
        fwrite(y, 1, ob, stdout);
    }
    return 0;
}
