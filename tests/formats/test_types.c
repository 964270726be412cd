/* Tensor types: traits, fp16/bf16 conversion edge cases, every block layout
 * against values worked out by hand, quantize -> dequantize error bounds, and
 * the layouts against real llama.cpp-quantized tensors of the conformance
 * models (dequantized next to their f32 originals). */
#include <stdint.h>

#include "base/base.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "test.h"

static float f_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t u_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
/* exact float equality, reported */
#define CHECK_EQF(a, b) CHECKF((a) == (b), "%.9g != %.9g", (double)(a), (double)(b))

/* ---- traits -------------------------------------------------------------- */

static void test_traits(void) {
    struct {
        uint32_t id;
        const char *name;
        int blck;
        size_t size;
        bool sup;
    } want[] = {
        {0, "f32", 1, 4, true},         {1, "f16", 1, 2, true},          {2, "q4_0", 32, 18, true},
        {3, "q4_1", 32, 20, false},     {6, "q5_0", 32, 22, true},       {7, "q5_1", 32, 24, true},
        {8, "q8_0", 32, 34, true},      {9, "q8_1", 32, 36, false},      {10, "q2_K", 256, 84, false},
        {11, "q3_K", 256, 110, false},  {12, "q4_K", 256, 144, true},    {13, "q5_K", 256, 176, true},
        {14, "q6_K", 256, 210, true},   {15, "q8_K", 256, 292, true},    {16, "iq2_xxs", 256, 66, false},
        {17, "iq2_xs", 256, 74, false}, {18, "iq3_xxs", 256, 98, false}, {19, "iq1_s", 256, 50, false},
        {20, "iq4_nl", 32, 18, false},  {21, "iq3_s", 256, 110, false},  {22, "iq2_s", 256, 82, false},
        {23, "iq4_xs", 256, 136, false}, {24, "i8", 1, 1, false},        {26, "i32", 1, 4, false},
        {28, "f64", 1, 8, false},       {29, "iq1_m", 256, 56, false},   {30, "bf16", 1, 2, true},
        {34, "tq1_0", 256, 54, false},  {35, "tq2_0", 256, 66, false},   {39, "mxfp4", 32, 17, false},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(want); i++) {
        const cs_type_traits *t = cs_type_info(want[i].id);
        CHECKF(t != NULL, "type %u", want[i].id);
        if (!t) continue;
        CHECKF(strcmp(t->name, want[i].name) == 0, "type %u: %s", want[i].id, t->name);
        CHECKF(t->blck_size == want[i].blck, "%s blck %d", t->name, t->blck_size);
        CHECKF(t->type_size == want[i].size, "%s size %zu", t->name, t->type_size);
        CHECKF(t->supported == want[i].sup, "%s supported %d", t->name, t->supported);
        CHECK(strcmp(cs_type_name(want[i].id), want[i].name) == 0);
    }
    /* retired / never used ids */
    uint32_t unknown[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < CS_ARRAY_LEN(unknown); i++) {
        CHECKF(cs_type_info(unknown[i]) == NULL, "id %u", unknown[i]);
        CHECK(strcmp(cs_type_name(unknown[i]), "?") == 0);
    }
}

static void test_from_name(void) {
    CHECK(cs_type_from_name("f32") == CS_TYPE_F32);
    CHECK(cs_type_from_name("F16") == CS_TYPE_F16);
    CHECK(cs_type_from_name("bf16") == CS_TYPE_BF16);
    CHECK(cs_type_from_name("BF16") == CS_TYPE_BF16);
    CHECK(cs_type_from_name("q8_0") == CS_TYPE_Q8_0);
    CHECK(cs_type_from_name("Q4_K") == CS_TYPE_Q4_K);
    CHECK(cs_type_from_name("q4_k") == CS_TYPE_Q4_K);
    CHECK(cs_type_from_name("q5_K") == CS_TYPE_Q5_K);
    CHECK(cs_type_from_name("Q6_K") == CS_TYPE_Q6_K);
    CHECK(cs_type_from_name("q5_1") == CS_TYPE_Q5_1);
    CHECK(cs_type_from_name("iq2_xxs") == 16);
    CHECK(cs_type_from_name("q4_2") == -1);
    CHECK(cs_type_from_name("q4_k_m") == -1); /* a file type, not a tensor type */
    CHECK(cs_type_from_name("") == -1);
    CHECK(cs_type_from_name("?") == -1);
    CHECK(cs_type_from_name(NULL) == -1);
}

static void test_row_size(void) {
    CHECK(cs_row_size(CS_TYPE_F32, 10) == 40);
    CHECK(cs_row_size(CS_TYPE_F16, 7) == 14);
    CHECK(cs_row_size(CS_TYPE_BF16, 3) == 6);
    CHECK(cs_row_size(CS_TYPE_Q4_0, 64) == 36);
    CHECK(cs_row_size(CS_TYPE_Q5_0, 96) == 66);
    CHECK(cs_row_size(CS_TYPE_Q5_1, 32) == 24);
    CHECK(cs_row_size(CS_TYPE_Q8_0, 4096) == 128 * 34);
    CHECK(cs_row_size(CS_TYPE_Q4_K, 256) == 144);
    CHECK(cs_row_size(CS_TYPE_Q5_K, 512) == 352);
    CHECK(cs_row_size(CS_TYPE_Q6_K, 7168) == 28 * 210);
    CHECK(cs_row_size(CS_TYPE_Q8_K, 256) == 292);
    CHECK(cs_row_size(CS_TYPE_Q2_K, 256) == 84); /* known though unsupported */
    CHECK(cs_row_size(CS_TYPE_Q4_0, 0) == 0);
    /* bad lengths */
    CHECK(cs_row_size(CS_TYPE_Q4_0, 33) == 0);
    CHECK(cs_row_size(CS_TYPE_Q8_0, 16) == 0);
    CHECK(cs_row_size(CS_TYPE_Q4_K, 128) == 0);
    CHECK(cs_row_size(CS_TYPE_Q6_K, 257) == 0);
    CHECK(cs_row_size(CS_TYPE_F32, -4) == 0);
    CHECK(cs_row_size(CS_TYPE_Q4_0, -32) == 0);
    /* unknown types */
    CHECK(cs_row_size(4, 32) == 0);
    CHECK(cs_row_size(1000, 32) == 0);
    /* overflow of n * size */
    CHECK(cs_row_size(CS_TYPE_F32, INT64_MAX) == 0);
    CHECK(cs_row_size(27 /* i64 */, (INT64_MAX / 4) * 4) == 0);
    CHECK(cs_row_size(CS_TYPE_F16, INT64_MAX) == (size_t)INT64_MAX * 2); /* 2^64 - 2 still fits */
}

/* ---- fp16 / bf16 ----------------------------------------------------------- */

static void test_fp16(void) {
    /* decode */
    CHECK_EQF(cs_fp16_to_fp32(0x3c00), 1.0f);
    CHECK_EQF(cs_fp16_to_fp32(0xc000), -2.0f);
    CHECK_EQF(cs_fp16_to_fp32(0x7bff), 65504.0f);
    CHECK_EQF(cs_fp16_to_fp32(0x0400), ldexpf(1, -14));       /* smallest normal */
    CHECK_EQF(cs_fp16_to_fp32(0x0001), ldexpf(1, -24));       /* smallest subnormal */
    CHECK_EQF(cs_fp16_to_fp32(0x03ff), ldexpf(1023, -24));    /* largest subnormal */
    CHECK_EQF(cs_fp16_to_fp32(0x8201), -ldexpf(513, -24));    /* negative subnormal */
    CHECK(u_of(cs_fp16_to_fp32(0x8000)) == 0x80000000u);      /* -0 */
    CHECK(isinf(cs_fp16_to_fp32(0x7c00)) && cs_fp16_to_fp32(0x7c00) > 0);
    CHECK(isinf(cs_fp16_to_fp32(0xfc00)) && cs_fp16_to_fp32(0xfc00) < 0);
    CHECK(isnan(cs_fp16_to_fp32(0x7e00)));
    CHECK(isnan(cs_fp16_to_fp32(0x7c01)));
    /* encode: exact values */
    CHECK(cs_fp32_to_fp16(1.0f) == 0x3c00);
    CHECK(cs_fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(cs_fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(cs_fp32_to_fp16(ldexpf(1, -24)) == 0x0001);
    CHECK(cs_fp32_to_fp16(ldexpf(1023, -24)) == 0x03ff);
    /* round to nearest, ties to even */
    CHECK(cs_fp32_to_fp16(1.0f + ldexpf(1, -11)) == 0x3c00);                   /* tie -> even (down) */
    CHECK(cs_fp32_to_fp16(1.0f + ldexpf(3, -11)) == 0x3c02);                   /* tie -> even (up) */
    CHECK(cs_fp32_to_fp16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01); /* above the tie */
    CHECK(cs_fp32_to_fp16(ldexpf(1, -25)) == 0x0000);                         /* subnormal tie -> 0 */
    CHECK(cs_fp32_to_fp16(ldexpf(3, -25)) == 0x0002);                         /* 1.5 ulp -> 2 */
    CHECK(cs_fp32_to_fp16(ldexpf(3, -26)) == 0x0001);                         /* 0.75 ulp -> 1 */
    CHECK(cs_fp32_to_fp16(ldexpf(1, -26)) == 0x0000);
    CHECK(cs_fp32_to_fp16(-ldexpf(1, -26)) == 0x8000);
    CHECK(cs_fp32_to_fp16(ldexpf(1, -14) - ldexpf(1, -25)) == 0x0400); /* subnormal rounds up into normal */
    /* overflow */
    CHECK(cs_fp32_to_fp16(65519.0f) == 0x7bff);
    CHECK(cs_fp32_to_fp16(65520.0f) == 0x7c00); /* tie between 65504 and 65536 -> inf */
    CHECK(cs_fp32_to_fp16(1e10f) == 0x7c00);
    CHECK(cs_fp32_to_fp16(-1e10f) == 0xfc00);
    CHECK(cs_fp32_to_fp16(INFINITY) == 0x7c00);
    CHECK(cs_fp32_to_fp16(-INFINITY) == 0xfc00);
    uint16_t hn = cs_fp32_to_fp16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0);
    uint16_t hn2 = cs_fp32_to_fp16(f_of(0x7f800001u)); /* NaN with only a low payload bit */
    CHECK((hn2 & 0x7c00) == 0x7c00 && (hn2 & 0x03ff) != 0);
    /* every finite half survives a round trip; NaNs stay NaN */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cs_fp16_to_fp32((uint16_t)h);
        uint16_t back = cs_fp32_to_fp16(f);
        if (isnan(f) ? !isnan(cs_fp16_to_fp32(back)) : back != h) bad++;
    }
    CHECKF(bad == 0, "%d halves do not round-trip", bad);
}

static void test_bf16(void) {
    CHECK(cs_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK_EQF(cs_bf16_to_fp32(0x3f80), 1.0f);
    CHECK_EQF(cs_bf16_to_fp32(0xc0a0), -5.0f);
    CHECK(cs_fp32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80);                 /* tie -> even */
    CHECK(cs_fp32_to_bf16(1.0f + ldexpf(3, -8)) == 0x3f82);                 /* tie -> even (up) */
    CHECK(cs_fp32_to_bf16(1.0f + ldexpf(1, -8) + ldexpf(1, -20)) == 0x3f81); /* above the tie */
    CHECK(cs_fp32_to_bf16(f_of(0x00010000u)) == 0x0001);                   /* subnormal kept */
    CHECK_EQF(cs_bf16_to_fp32(0x0001), ldexpf(1, -133));
    CHECK(cs_fp32_to_bf16(f_of(0x7f7fffffu)) == 0x7f80); /* FLT_MAX rounds to inf */
    CHECK(cs_fp32_to_bf16(INFINITY) == 0x7f80);
    CHECK(cs_fp32_to_bf16(-INFINITY) == 0xff80);
    CHECK(cs_fp32_to_bf16(-0.0f) == 0x8000);
    uint16_t bn = cs_fp32_to_bf16(f_of(0x7f800001u)); /* would truncate to inf without care */
    CHECK(isnan(cs_bf16_to_fp32(bn)));
    CHECK(isnan(cs_bf16_to_fp32(cs_fp32_to_bf16(NAN))));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cs_bf16_to_fp32((uint16_t)h);
        if (!isnan(f) && cs_fp32_to_bf16(f) != h) bad++;
    }
    CHECKF(bad == 0, "%d bf16 values do not round-trip", bad);
    /* the row dispatchers */
    float src[5] = {1.0f, -2.5f, 0.1f, 65504.0f, ldexpf(1, -24)}, back[5];
    uint16_t h[5];
    cs_quantize_row(CS_TYPE_F16, src, h, 5);
    cs_dequantize_row(CS_TYPE_F16, h, back, 5);
    CHECK(h[0] == 0x3c00 && h[1] == 0xc100 && h[2] == 0x2e66 && h[3] == 0x7bff && h[4] == 0x0001);
    CHECK_EQF(back[2], 0.0999755859375f);
    cs_quantize_row(CS_TYPE_BF16, src, h, 5);
    cs_dequantize_row(CS_TYPE_BF16, h, back, 5);
    CHECK(h[0] == 0x3f80 && h[1] == 0xc020 && h[2] == 0x3dcd);
    CHECK_EQF(back[2], 0.10009765625f);
    cs_quantize_row(CS_TYPE_F32, src, back, 5);
    CHECK(memcmp(src, back, sizeof src) == 0);
}

/* ---- hand-made blocks ------------------------------------------------------ */

static void test_block_q4_0(void) {
    block_q4_0 b;
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    cs_dequantize_row_q4_0(&b, y, 32);
    /* element j < 16: low nibble j; element 16 + j: high nibble 15 - j */
    CHECK_EQF(y[0], -4.0f);  /* (0 - 8) * 0.5 */
    CHECK_EQF(y[8], 0.0f);
    CHECK_EQF(y[15], 3.5f);  /* (15 - 8) * 0.5 */
    CHECK_EQF(y[16], 3.5f);  /* high nibble of qs[0] = 15 */
    CHECK_EQF(y[31], -4.0f); /* high nibble of qs[15] = 0 */
    for (int j = 0; j < 16; j++) {
        CHECK_EQF(y[j], (j - 8) * 0.5f);
        CHECK_EQF(y[16 + j], (7 - j) * 0.5f);
    }
    /* via the dispatcher too */
    float z[32];
    cs_dequantize_row(CS_TYPE_Q4_0, &b, z, 32);
    CHECK(memcmp(y, z, sizeof y) == 0);
}

static void test_block_q8_0(void) {
    block_q8_0 b[2];
    b[0].d = 0x3400; /* 0.25 */
    b[1].d = 0xc000; /* -2 */
    for (int j = 0; j < 32; j++) {
        b[0].qs[j] = (int8_t)(j * 8 - 128);
        b[1].qs[j] = (int8_t)(j - 16);
    }
    float y[64];
    cs_dequantize_row_q8_0(b, y, 64);
    CHECK_EQF(y[0], -32.0f);
    CHECK_EQF(y[31], 30.0f);
    CHECK_EQF(y[32], 32.0f);
    CHECK_EQF(y[63], -30.0f);
    for (int j = 0; j < 32; j++) CHECK_EQF(y[j], (j * 8 - 128) * 0.25f);
}

/* q5_0 / q5_1 share qs/qh: qh is a little-endian u32 whose bit j is the 5th
 * bit of element j (elements 16..31 use bits 16..31). */
static void fill_q5(uint8_t *qs, uint8_t *qh) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((j & 15) | (((j * 3) & 15) << 4));
    qh[0] = 0x01; /* element 0 */
    qh[1] = 0x80; /* element 15 */
    qh[2] = 0x0f; /* elements 16..19 */
    qh[3] = 0xa0; /* elements 29, 31 */
}

static void test_block_q5_0(void) {
    block_q5_0 b;
    b.d = 0x3c00; /* 1 */
    fill_q5(b.qs, b.qh);
    float y[32];
    cs_dequantize_row_q5_0(&b, y, 32);
    CHECK_EQF(y[0], 0.0f);   /* 0 | 16 -> 16 - 16 */
    CHECK_EQF(y[1], -15.0f); /* 1 */
    CHECK_EQF(y[14], -2.0f); /* 14, no high bit */
    CHECK_EQF(y[15], 15.0f); /* 15 | 16 */
    CHECK_EQF(y[16], 0.0f);  /* high nibble of qs[0] = 0, bit 16 */
    CHECK_EQF(y[19], 9.0f);  /* qs[3] >> 4 = 9, bit 19 */
    CHECK_EQF(y[20], -4.0f); /* qs[4] >> 4 = 12, no bit 20 */
    CHECK_EQF(y[29], 7.0f);  /* qs[13] >> 4 = 7, bit 29 */
    CHECK_EQF(y[30], -6.0f); /* qs[14] >> 4 = 10, no bit 30 */
    CHECK_EQF(y[31], 13.0f); /* qs[15] >> 4 = 13, bit 31 */
    int bits[32] = {0};
    bits[0] = bits[15] = bits[16] = bits[17] = bits[18] = bits[19] = bits[29] = bits[31] = 1;
    for (int j = 0; j < 16; j++) {
        CHECK_EQF(y[j], (float)((j & 15) + 16 * bits[j] - 16));
        CHECK_EQF(y[16 + j], (float)(((j * 3) & 15) + 16 * bits[16 + j] - 16));
    }
}

static void test_block_q5_1(void) {
    block_q5_1 b;
    b.d = 0x3800; /* 0.5 */
    b.m = 0xc200; /* -3 */
    fill_q5(b.qs, b.qh);
    float y[32];
    cs_dequantize_row_q5_1(&b, y, 32);
    CHECK_EQF(y[0], 5.0f);   /* 16 * 0.5 - 3 */
    CHECK_EQF(y[1], -2.5f);  /* 1 * 0.5 - 3 */
    CHECK_EQF(y[15], 12.5f); /* 31 * 0.5 - 3 */
    CHECK_EQF(y[20], 3.0f);  /* 12 * 0.5 - 3 */
    CHECK_EQF(y[29], 8.5f);  /* 23 * 0.5 - 3 */
    CHECK_EQF(y[31], 11.5f); /* 29 * 0.5 - 3 */
}

/* Scales and mins used for the q4_K / q5_K blocks, and their packing worked
 * out by hand (see the comment in types.c for the layout). */
static const int kq_sc[8] = {1, 2, 3, 63, 33, 17, 48, 5};
static const int kq_m[8] = {0, 4, 10, 62, 21, 35, 2, 63};
static const uint8_t kq_packed[12] = {
    0x81, /* sc0 = 1   | (sc4 = 33 = 0b10'0001) >> 4 = 2 in bits 6-7 */
    0x42, /* sc1 = 2   | (sc5 = 17) >> 4 = 1 */
    0xc3, /* sc2 = 3   | (sc6 = 48) >> 4 = 3 */
    0x3f, /* sc3 = 63  | (sc7 = 5) >> 4 = 0 */
    0x40, /* m0 = 0    | (m4 = 21) >> 4 = 1 */
    0x84, /* m1 = 4    | (m5 = 35) >> 4 = 2 */
    0x0a, /* m2 = 10   | (m6 = 2) >> 4 = 0 */
    0xfe, /* m3 = 62   | (m7 = 63) >> 4 = 3 */
    0x51, /* sc4 & 15 = 1, m4 & 15 = 5 */
    0x31, /* sc5 & 15 = 1, m5 & 15 = 3 */
    0x20, /* sc6 & 15 = 0, m6 & 15 = 2 */
    0xf5, /* sc7 & 15 = 5, m7 & 15 = 15 */
};

/* nibble of element e (0..255) in a q4_K/q5_K qs array: chunk c = e / 64 uses
 * qs[32c .. 32c + 31]; low nibbles for the first 32 elements, high for the rest */
static int kq_nibble(const uint8_t *qs, int e) {
    int c = e / 64, r = e % 64;
    uint8_t byte = qs[32 * c + r % 32];
    return r < 32 ? byte & 15 : byte >> 4;
}

static void test_block_q4_K(void) {
    block_q4_K b;
    b.d = 0x3c00;    /* 1 */
    b.dmin = 0x3800; /* 0.5 */
    memcpy(b.scales, kq_packed, 12);
    for (int k = 0; k < 128; k++) b.qs[k] = (uint8_t)(k * 7);
    float y[256];
    cs_dequantize_row_q4_K(&b, y, 256);
    CHECK_EQF(y[0], 0.0f);     /* q 0, sub 0 */
    CHECK_EQF(y[33], -2.0f);   /* qs[1] = 7 high = 0; sub 1: 2*0 - 0.5*4 */
    CHECK_EQF(y[64], -5.0f);   /* qs[32] = 0xe0 low = 0; sub 2: -0.5*10 */
    CHECK_EQF(y[100], 914.0f); /* qs[36] = 0xfc high = 15; sub 3: 63*15 - 31 */
    CHECK_EQF(y[127], 662.0f); /* qs[63] = 0xb9 high = 11; sub 3: 693 - 31 */
    CHECK_EQF(y[130], 451.5f); /* qs[66] = 0xce low = 14; sub 4: 33*14 - 10.5 */
    CHECK_EQF(y[191], 135.5f); /* qs[95] = 0x99 high = 9; sub 5: 17*9 - 17.5 */
    CHECK_EQF(y[200], 383.0f); /* qs[104] = 0xd8 low = 8; sub 6: 48*8 - 1 */
    CHECK_EQF(y[255], 3.5f);   /* qs[127] = 0x79 high = 7; sub 7: 5*7 - 31.5 */
    for (int e = 0; e < 256; e++) {
        int s = e / 32;
        CHECKF(y[e] == 1.0f * kq_sc[s] * kq_nibble(b.qs, e) - 0.5f * kq_m[s], "element %d: %g", e, y[e]);
    }
}

static void test_block_q5_K(void) {
    block_q5_K b;
    b.d = 0x3400;    /* 0.25 */
    b.dmin = 0x3c00; /* 1 */
    memcpy(b.scales, kq_packed, 12);
    for (int k = 0; k < 128; k++) b.qs[k] = (uint8_t)(k * 7);
    for (int l = 0; l < 32; l++) b.qh[l] = (uint8_t)(l * 37 + 11);
    float y[256];
    cs_dequantize_row_q5_K(&b, y, 256);
    CHECK_EQF(y[0], 4.0f);      /* low 0, qh[0] = 0b1011 bit 0 -> 16; 0.25*1*16 */
    CHECK_EQF(y[32], 4.0f);     /* high 0, bit 1 -> 16; 0.25*2*16 - 4 */
    CHECK_EQF(y[64], -10.0f);   /* qs[32] low 0, bit 2 clear; -10 */
    CHECK_EQF(y[96], 410.5f);   /* qs[32] high 14, bit 3 -> 30; 0.25*63*30 - 62 */
    CHECK_EQF(y[130], 226.5f);  /* qs[66] low 14, qh[2] = 0x55 bit 4 -> 30; 0.25*33*30 - 21 */
    CHECK_EQF(y[200], 94.0f);   /* qs[104] low 8, qh[8] = 0x33 bit 6 clear; 0.25*48*8 - 2 */
    CHECK_EQF(y[255], -34.25f); /* qs[127] high 7, qh[31] = 0x86 bit 7 -> 23; 0.25*5*23 - 63 */
    for (int e = 0; e < 256; e++) {
        int s = e / 32, c = e / 64, r = e % 64;
        int hb = (b.qh[r % 32] >> (2 * c + (r >= 32))) & 1;
        int q = kq_nibble(b.qs, e) + 16 * hb;
        CHECKF(y[e] == 0.25f * kq_sc[s] * q - 1.0f * kq_m[s], "element %d: %g", e, y[e]);
    }
}

static void test_block_q6_K(void) {
    block_q6_K b;
    static const int8_t sc[16] = {1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 127, -128};
    b.d = 0x3800; /* 0.5 */
    memcpy(b.scales, sc, 16);
    for (int k = 0; k < 128; k++) b.ql[k] = (uint8_t)(k * 13 + 5);
    for (int k = 0; k < 64; k++) b.qh[k] = (uint8_t)(k * 29 + 3);
    float y[256];
    cs_dequantize_row_q6_K(&b, y, 256);
    CHECK_EQF(y[0], 10.5f);    /* ql[0] = 5 low 5, qh[0] = 3 bits 0-1 = 3 -> 53 - 32 = 21; 0.5*1*21 */
    CHECK_EQF(y[32], -27.0f);  /* ql[32] = 0xa5 low 5, qh[0] bits 2-3 = 0 -> -27; 0.5*2*-27 */
    CHECK_EQF(y[64], -48.0f);  /* ql[0] high 0, bits 4-5 = 0 -> -32; 0.5*3*-32 */
    CHECK_EQF(y[96], -44.0f);  /* ql[32] high 10, bits 6-7 = 0 -> -22; 0.5*4*-22 */
    CHECK_EQF(y[150], 32.5f);  /* ql[86] = 0x63 low 3, qh[54] = 0x21 bits 0-1 = 1 -> 19 - 32; 0.5*-5*-13 */
    CHECK_EQF(y[239], -381.0f); /* ql[111] = 0xa8 high 10, qh[47] = 0x56 bits 6-7 = 1 -> 26 - 32; 0.5*127*-6 */
    CHECK_EQF(y[255], 1600.0f); /* ql[127] = 0x78 high 7, qh[63] = 0x26 bits 6-7 = 0 -> -25; 0.5*-128*-25 */
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        uint8_t lb = b.ql[64 * h + 32 * (quarter & 1) + l];
        int lo = quarter < 2 ? lb & 15 : lb >> 4;
        int hi = (b.qh[32 * h + l] >> (2 * quarter)) & 3;
        int q = (lo | hi << 4) - 32;
        CHECKF(y[e] == 0.5f * sc[e / 16] * q, "element %d: %g", e, y[e]);
    }
}

static void test_block_q8_K(void) {
    block_q8_K b;
    b.d = 0.5f;
    for (int j = 0; j < 256; j++) b.qs[j] = (int8_t)(j - 128);
    float y[256];
    cs_dequantize_row_q8_K(&b, y, 256);
    CHECK_EQF(y[0], -64.0f);
    CHECK_EQF(y[255], 63.5f);
    /* quantize: d = max/127 with the sign of the largest element; bsums */
    float x[256];
    for (int j = 0; j < 256; j++) x[j] = (j % 16) - 2.0f; /* -2 .. 13 */
    x[5] = -127.0f;
    cs_quantize_row_q8_K(x, &b, 256);
    CHECK_EQF(b.d, 1.0f);
    CHECK(b.qs[5] == -127 && b.qs[0] == -2 && b.qs[255] == 13);
    CHECK(b.bsums[0] == 88 - 127 - 3 && b.bsums[1] == 88 && b.bsums[15] == 88);
    /* positive largest element: it still maps to -127 and d turns negative */
    for (int j = 0; j < 256; j++) x[j] = -x[j];
    cs_quantize_row_q8_K(x, &b, 256);
    CHECK_EQF(b.d, -1.0f);
    CHECK(b.qs[5] == -127 && b.qs[0] == -2 && b.bsums[1] == 88);
    /* zeros */
    memset(x, 0, sizeof x);
    cs_quantize_row_q8_K(x, &b, 256);
    CHECK(b.d == 0 && b.qs[7] == 0 && b.bsums[3] == 0);
}

/* Quantizers against blocks they must produce exactly. */
static void test_quantize_exact(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16); /* -16 .. 15 */
    block_q8_0 q8;
    cs_quantize_row_q8_0(x, &q8, 32);
    /* d = 16/127; x/d = 127 x / 16, rounded half away from zero */
    CHECK(q8.d == cs_fp32_to_fp16(16.0f / 127));
    CHECK(q8.qs[0] == -127 && q8.qs[16] == 0 && q8.qs[31] == 119 && q8.qs[17] == 8);
    block_q4_0 q4;
    cs_quantize_row_q4_0(x, &q4, 32);
    /* the largest magnitude -16 maps to -8: d = 2, so x/2 + 8 */
    CHECK(q4.d == 0x4000);
    CHECK(q4.qs[0] == (0 | (8 << 4)));        /* -16 -> 0, 0 -> 8 */
    CHECK(q4.qs[15] == (8 | (15 << 4))); /* -1 -> (int)(-0.5 + 8.5) = 8; 15 -> 16 clipped to 15 */
    block_q5_0 q5;
    cs_quantize_row_q5_0(x, &q5, 32);
    /* d = 1, q = x + 16: elements 0..15 -> 0..15, elements 16..31 -> 16..31 */
    CHECK(q5.d == 0x3c00);
    CHECK(q5.qh[0] == 0 && q5.qh[1] == 0 && q5.qh[2] == 0xff && q5.qh[3] == 0xff);
    for (int j = 0; j < 16; j++) CHECK(q5.qs[j] == (j | (j << 4)));
    block_q5_1 q51;
    for (int j = 0; j < 32; j++) x[j] = 2.0f + j * 0.5f;
    cs_quantize_row_q5_1(x, &q51, 32);
    CHECK(q51.m == 0x4000 && q51.d == cs_fp32_to_fp16(15.5f / 31)); /* min 2, d 0.5 */
    float y[32];
    cs_dequantize_row_q5_1(&q51, y, 32);
    for (int j = 0; j < 32; j++) CHECK_EQF(y[j], x[j]);
}

/* ---- round trips ------------------------------------------------------------ */

typedef struct {
    double llama; /* llama.cpp's test-quantize-fns metric: sqrt(sum d^2) / n */
    double nrmse; /* rms error / rms of the data */
    double maxrel; /* max |error| / max |x| */
} qerr;

static qerr roundtrip(cs_type t, const float *x, int64_t n) {
    size_t sz = cs_row_size(t, n);
    void *q = malloc(sz);
    float *y = malloc((size_t)n * sizeof(float));
    cs_quantize_row(t, x, q, n);
    cs_dequantize_row(t, q, y, n);
    double se = 0, sx = 0, me = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)y[i] - x[i];
        se += d * d;
        sx += (double)x[i] * x[i];
        if (fabs(d) > me) me = fabs(d);
        if (fabs(x[i]) > mx) mx = fabs(x[i]);
    }
    free(q);
    free(y);
    qerr e = {sqrt(se) / n, sqrt(se / sx), me / mx};
    return e;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd_u(void) { /* uniform [0,1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static double rnd_n(void) { /* standard normal */
    double u = rnd_u() + 1e-12, v = rnd_u();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void test_roundtrip(void) {
    enum { N = 32 * 128 };
    static float cosdata[N], gauss[N];
    for (int i = 0; i < N; i++) cosdata[i] = 0.1f + 2 * cosf((float)i + 0.0f);
    for (int i = 0; i < N; i++) gauss[i] = (float)(0.02 * rnd_n());
    /* nrmse bounds: the values measured on this data (cos / gaussian) plus
     * ~15%; the deterministic data makes them reproducible */
    struct {
        cs_type t;
        double cos_nrmse, gauss_nrmse;
    } c[] = {
        {CS_TYPE_F16, 2.5e-4, 2.5e-4},   /* measured 2.0e-4, 2.1e-4 */
        {CS_TYPE_BF16, 2.0e-3, 2.0e-3},  /* 1.61e-3, 1.66e-3 */
        {CS_TYPE_Q4_0, 0.058, 0.100},    /* 0.0506, 0.0886 */
        {CS_TYPE_Q5_0, 0.031, 0.050},    /* 0.0267, 0.0434 */
        {CS_TYPE_Q5_1, 0.029, 0.045},    /* 0.0251, 0.0387 */
        {CS_TYPE_Q8_0, 0.0039, 0.0064},  /* 0.00336, 0.00555 */
        {CS_TYPE_Q4_K, 0.051, 0.084},    /* 0.0443, 0.0726 */
        {CS_TYPE_Q5_K, 0.028, 0.043},    /* 0.0240, 0.0368 */
        {CS_TYPE_Q6_K, 0.0136, 0.0207},  /* 0.0118, 0.0179 */
        {CS_TYPE_Q8_K, 0.0039, 0.0082},  /* 0.00340, 0.00712 (one scale per 256) */
    };
    double cos_nr[CS_TYPE_COUNT] = {0}, gauss_nr[CS_TYPE_COUNT] = {0};
    for (size_t i = 0; i < CS_ARRAY_LEN(c); i++) {
        qerr a = roundtrip(c[i].t, cosdata, N), b = roundtrip(c[i].t, gauss, N);
        printf("   %-5s cos: llama %.6f nrmse %.5f maxrel %.4f | gauss: nrmse %.5f maxrel %.4f\n",
               cs_type_name(c[i].t), a.llama, a.nrmse, a.maxrel, b.nrmse, b.maxrel);
        CHECKF(a.llama <= 0.002, "%s: llama metric %g", cs_type_name(c[i].t), a.llama);
        CHECKF(a.nrmse <= c[i].cos_nrmse, "%s: cos nrmse %g > %g", cs_type_name(c[i].t), a.nrmse, c[i].cos_nrmse);
        CHECKF(b.nrmse <= c[i].gauss_nrmse, "%s: gauss nrmse %g > %g", cs_type_name(c[i].t), b.nrmse,
               c[i].gauss_nrmse);
        cos_nr[c[i].t] = a.nrmse;
        gauss_nr[c[i].t] = b.nrmse;
    }
    /* the k-quants' searched scales and mins beat the plain absmax types of the
     * same width, and the wider types beat the narrower */
    CHECK(cos_nr[CS_TYPE_Q4_K] < cos_nr[CS_TYPE_Q4_0] && gauss_nr[CS_TYPE_Q4_K] < gauss_nr[CS_TYPE_Q4_0]);
    CHECK(cos_nr[CS_TYPE_Q5_K] < cos_nr[CS_TYPE_Q5_0] && gauss_nr[CS_TYPE_Q5_K] < gauss_nr[CS_TYPE_Q5_0]);
    CHECK(cos_nr[CS_TYPE_Q5_K] < 0.6 * cos_nr[CS_TYPE_Q4_K] && cos_nr[CS_TYPE_Q6_K] < 0.6 * cos_nr[CS_TYPE_Q5_K]);
}

/* Degenerate blocks: zeros, constants, one spike, tiny values. No NaN, zeros
 * stay zero, constants come back close. */
static void test_degenerate(void) {
    cs_type types[] = {CS_TYPE_Q4_0, CS_TYPE_Q5_0, CS_TYPE_Q5_1, CS_TYPE_Q8_0,
                       CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K, CS_TYPE_Q8_K};
    enum { N = 512 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (size_t k = 0; k < CS_ARRAY_LEN(types); k++) {
        cs_type t = types[k];
        const char *nm = cs_type_name(t);
        memset(x, 0, sizeof x);
        cs_quantize_row(t, x, q, N);
        cs_dequantize_row(t, q, y, N);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += y[i] != 0;
        CHECKF(bad == 0, "%s: zeros give %d non-zeros", nm, bad);
        for (int i = 0; i < N; i++) x[i] = 0.75f;
        cs_quantize_row(t, x, q, N);
        cs_dequantize_row(t, q, y, N);
        double me = 0;
        for (int i = 0; i < N; i++) me = fmax(me, fabs(y[i] - x[i]));
        CHECKF(me <= 0.75 * 0.01, "%s: constant 0.75 max error %g", nm, me);
        for (int i = 0; i < N; i++) x[i] = (i % 7 - 3) * 1e-3f;
        x[37] = 50.0f; /* a spike: its block's other values may vanish, but nothing blows up */
        x[300] = -1e-30f;
        cs_quantize_row(t, x, q, N);
        cs_dequantize_row(t, q, y, N);
        bad = 0;
        for (int i = 0; i < N; i++) bad += !isfinite(y[i]) || fabsf(y[i] - x[i]) > 0.5f;
        CHECKF(bad == 0, "%s: spike row: %d bad values", nm, bad);
        CHECKF(fabsf(y[37] - 50.0f) <= 0.05f * 50, "%s: spike %g", nm, y[37]);
        /* tiny values: the fp16 scales go subnormal or flush to zero, so the
         * format loses them (ggml's too); nothing may blow up though */
        float xmax = 0;
        for (int i = 0; i < N; i++) {
            x[i] = (float)(1e-6 * rnd_n());
            xmax = fmaxf(xmax, fabsf(x[i]));
        }
        cs_quantize_row(t, x, q, N);
        cs_dequantize_row(t, q, y, N);
        bad = 0;
        for (int i = 0; i < N; i++) bad += !isfinite(y[i]) || fabsf(y[i] - x[i]) > 2 * xmax;
        CHECKF(bad == 0, "%s: tiny row: %d bad values", nm, bad);
    }
}

/* ---- real llama.cpp blocks --------------------------------------------------- */

/* Dequantize every quantized tensor of qfile and compare with the same tensor
 * in the f32 twin. Per row, the error must stay within a fraction of the data's
 * own scale that only a correct layout achieves; a scrambled layout gives errors
 * of the order of the weights (nrmse ~ 1). Returns the number of tensors seen
 * of each type through counts[type]. */
static void check_against_f32(const char *qname, const char *fname, int counts[CS_TYPE_COUNT]) {
    char qp[512], fp[512];
    snprintf(qp, sizeof qp, "%s/conformance/%s", t_shared_dir(), qname);
    snprintf(fp, sizeof fp, "%s/conformance/%s", t_shared_dir(), fname);
    FILE *probe = fopen(qp, "rb");
    if (!probe) {
        printf("   skip: no %s\n", qp);
        return;
    }
    fclose(probe);
    gguf_file *q = gguf_open(qp, NULL), *f = gguf_open(fp, NULL);
    CHECKF(q && f, "%s", cs_last_error());
    if (!q || !f) {
        if (q) gguf_close(q);
        if (f) gguf_close(f);
        return;
    }
    /* bounds on the tensor's nrmse (dequantized vs original) per type */
    double bound[CS_TYPE_COUNT] = {0};
    bound[CS_TYPE_Q8_0] = 0.006;
    bound[CS_TYPE_Q6_K] = 0.02;
    bound[CS_TYPE_Q4_K] = 0.08;
    double worst[CS_TYPE_COUNT] = {0}, mine_worst[CS_TYPE_COUNT] = {0};
    size_t same_bytes[CS_TYPE_COUNT] = {0}, all_bytes[CS_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < gguf_n_tensors(q); i++) {
        const gguf_tensor *tq = gguf_tensor_at(q, i);
        if (tq->type == CS_TYPE_F32) continue;
        const gguf_tensor *tf = gguf_find_tensor(f, tq->name);
        CHECKF(tf && tf->type == CS_TYPE_F32, "%s: no f32 twin", tq->name);
        if (!tf || tf->type != CS_TYPE_F32 || tf->ne[0] != tq->ne[0]) continue;
        const cs_type_traits *tr = cs_type_info(tq->type);
        CHECKF(tr && tr->supported, "%s: type %u", tq->name, tq->type);
        if (!tr || !tr->supported) continue;
        counts[tq->type]++;
        int64_t n0 = tq->ne[0], rows = tq->ne[1] * tq->ne[2] * tq->ne[3];
        size_t rs = cs_row_size(tq->type, n0);
        float *y = malloc((size_t)n0 * sizeof(float));
        uint8_t *mine = malloc(rs);
        double se = 0, sx = 0, se_mine = 0;
        int bad_blocks = 0;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *qrow = (const uint8_t *)tq->data + (size_t)r * rs;
            const float *x = (const float *)tf->data + (size_t)r * n0;
            cs_dequantize_row(tq->type, qrow, y, n0);
            for (int64_t k = 0; k < n0; k++) {
                double d = (double)y[k] - x[k];
                se += d * d;
                sx += (double)x[k] * x[k];
            }
            if (tq->type == CS_TYPE_Q8_0) {
                /* every element within half a step (plus the fp16 rounding of d) */
                for (int64_t b = 0; b < n0 / 32; b++) {
                    const block_q8_0 *blk = (const block_q8_0 *)qrow + b;
                    float d = cs_fp16_to_fp32(blk->d);
                    for (int k = 0; k < 32; k++)
                        if (fabsf(y[32 * b + k] - x[32 * b + k]) > 0.5f * d + 128 * d * ldexpf(1, -11)) {
                            bad_blocks++;
                            break;
                        }
                }
            }
            /* our own quantizer on the same weights: same bytes mostly, and no worse */
            cs_quantize_row(tq->type, x, mine, n0);
            for (size_t k = 0; k < rs; k++) same_bytes[tq->type] += mine[k] == qrow[k];
            all_bytes[tq->type] += rs;
            cs_dequantize_row(tq->type, mine, y, n0);
            for (int64_t k = 0; k < n0; k++) {
                double d = (double)y[k] - x[k];
                se_mine += d * d;
            }
        }
        double nr = sqrt(se / sx), nr_mine = sqrt(se_mine / sx);
        if (nr > worst[tq->type]) worst[tq->type] = nr;
        if (nr_mine > mine_worst[tq->type]) mine_worst[tq->type] = nr_mine;
        CHECKF(nr <= bound[tq->type], "%s (%s): nrmse %g", tq->name, tr->name, nr);
        CHECKF(nr_mine <= nr * 1.01 + 1e-7, "%s (%s): our quantizer nrmse %g vs llama.cpp %g", tq->name, tr->name,
               nr_mine, nr);
        CHECKF(bad_blocks == 0, "%s: %d q8_0 blocks off by more than half a step", tq->name, bad_blocks);
        free(y);
        free(mine);
    }
    for (int t = 0; t < CS_TYPE_COUNT; t++)
        if (all_bytes[t]) {
            double same = (double)same_bytes[t] / all_bytes[t];
            printf("   %s %-5s: worst tensor nrmse %.5f (ours %.5f), bytes identical to llama.cpp %.2f%%\n", qname,
                   cs_type_name(t), worst[t], mine_worst[t], 100 * same);
            CHECKF(same >= 0.99, "%s %s: only %.2f%% of bytes match llama.cpp's", qname, cs_type_name(t), 100 * same);
        }
    gguf_close(q);
    gguf_close(f);
}

static void test_llama_cpp_blocks(void) {
    int counts[CS_TYPE_COUNT] = {0};
    check_against_f32("qwen2-tiny-q4_k_m.gguf", "qwen2-tiny-f32.gguf", counts);
    check_against_f32("llama-tiny-q6_k.gguf", "llama-tiny-f32.gguf", counts);
    check_against_f32("qwen2-tiny-q8_0.gguf", "qwen2-tiny-f32.gguf", counts);
    if (!counts[CS_TYPE_Q4_K] && !counts[CS_TYPE_Q6_K] && !counts[CS_TYPE_Q8_0]) {
        printf("   skip: conformance models not found under %s\n", t_shared_dir());
        return;
    }
    CHECK(counts[CS_TYPE_Q4_K] > 0 && counts[CS_TYPE_Q6_K] > 0 && counts[CS_TYPE_Q8_0] > 0);
}

int main(void) {
    RUN(test_traits);
    RUN(test_from_name);
    RUN(test_row_size);
    RUN(test_fp16);
    RUN(test_bf16);
    RUN(test_block_q4_0);
    RUN(test_block_q8_0);
    RUN(test_block_q5_0);
    RUN(test_block_q5_1);
    RUN(test_block_q4_K);
    RUN(test_block_q5_K);
    RUN(test_block_q6_K);
    RUN(test_block_q8_K);
    RUN(test_quantize_exact);
    RUN(test_roundtrip);
    RUN(test_degenerate);
    RUN(test_llama_cpp_blocks);
    TEST_END();
}
