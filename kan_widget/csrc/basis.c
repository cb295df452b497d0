/* The B-spline basis recursion and its input derivative for kan_widget/splines.py, in plain C.

Bit-identical to the torch path (splines.recursion, splines.basis_deriv_grad): the same IEEE
operations in the same order on the same dtype, so it must be built without FMA contraction or
fast-math (-ffp-contract=off); the knot constants (1/span, -t*1/span, k/span) come precomputed
by torch (ckernel.pack), never recomputed here. What it saves is torch's per-level full-size
temporaries and per-op dispatch: one pass per input over blocks of columns kept in cache.

Called through ctypes (kan_widget/ckernel.py) on contiguous-in-the-batch CPU tensors; no torch
headers, no Python C-API. The type-generic part below is compiled once for float and once for
double by including this file into itself. */
#ifndef KW_T

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* columns per block: level rows of one block stay in L1/L2 for the usual knot counts */
#define KW_W 256

#define KW_T float
#define KW(name) name##_f32
#include "basis.c" /* this file, from its own directory */
#undef KW_T
#undef KW

#define KW_T double
#define KW(name) name##_f64
#include "basis.c" /* this file, from its own directory */
#undef KW_T
#undef KW

int kw_abi_version(void) { return 3; }

#else /* the type-generic part */

/* Basis of order k >= 1 (into out) and k-1 (into prev, when not NULL) for x[i*x_si + b*x_sb],
   b < B (a strided batch is gathered a block at a time, so the loops run on contiguous rows).
   pk: the packed knot constants [2k+2][n_in][n_knots] (ckernel.pack): row 0 the knots, rows
   1+2(p-1) and 2+2(p-1) level p's 1/span and -t/span, row 2k+1 k/span of level k.
   out[i*out_si + m*out_sm + b], m < n_knots-k-1; prev likewise, m < n_knots-k.
   Returns 0, or -1 when the work buffer cannot be allocated (nothing written then). */
int KW(kw_basis)(const KW_T *restrict x, int64_t x_si, int64_t x_sb, int64_t n_in, int64_t B,
                 const KW_T *restrict pk, int64_t n_knots, int64_t k,
                 KW_T *restrict out, int64_t out_si, int64_t out_sm,
                 KW_T *restrict prev, int64_t prev_si, int64_t prev_sm)
{
    const int64_t plane = n_in * n_knots;
    /* level rows (n_knots-1 of them) and one carry row, each KW_W wide */
    KW_T *restrict work = (KW_T *)malloc(sizeof(KW_T) * (size_t)((n_knots + 1) * KW_W));
    if (work == NULL)
        return -1;
    KW_T *restrict carry = work + (n_knots - 1) * KW_W;
    KW_T *restrict xg = carry + KW_W; /* the block's inputs, when the batch is strided */
    for (int64_t i = 0; i < n_in; ++i) {
        const KW_T *xi = x + i * x_si;
        const KW_T *t = pk + i * n_knots;
        for (int64_t b0 = 0; b0 < B; b0 += KW_W) {
            const int64_t w = B - b0 < KW_W ? B - b0 : KW_W;
            const KW_T *xb = xi + b0 * x_sb;
            if (x_sb != 1) {
                for (int64_t j = 0; j < w; ++j)
                    xg[j] = xi[(b0 + j) * x_sb];
                xb = xg;
            }
            /* order 0: [x < t_{m+1}] - [x < t_m] (torch: lt into a float buffer, then sub) */
            for (int64_t j = 0; j < w; ++j)
                carry[j] = (KW_T)(xb[j] < t[0]);
            for (int64_t m = 0; m + 1 < n_knots; ++m) {
                const KW_T tm = t[m + 1];
                KW_T *d = work + m * KW_W;
                for (int64_t j = 0; j < w; ++j) {
                    const KW_T s = (KW_T)(xb[j] < tm);
                    d[j] = s - carry[j];
                    carry[j] = s;
                }
            }
            for (int64_t p = 1; p <= k; ++p) {
                if (p == k && prev != NULL) /* level k-1's n_knots-k rows, as they are now */
                    for (int64_t m = 0; m < n_knots - k; ++m)
                        memcpy(prev + i * prev_si + m * prev_sm + b0, work + m * KW_W,
                               sizeof(KW_T) * (size_t)w);
                const KW_T *inv = pk + (2 * p - 1) * plane + i * n_knots;
                const KW_T *shift = pk + (2 * p) * plane + i * n_knots;
                KW_T *dst = p == k ? out + i * out_si + b0 : work;
                const int64_t ds = p == k ? out_sm : KW_W;
                /* u_m = (x*inv_m + shift_m) * v_m; v'_m = (v_{m+1} + u_m) - u_{m+1}; in place
                   (v'_m overwrites v_m after u_m and u_{m+1} are read); carry holds u_m */
                {
                    const KW_T iv = inv[0], sh = shift[0];
                    for (int64_t j = 0; j < w; ++j)
                        carry[j] = (xb[j] * iv + sh) * work[j];
                }
                for (int64_t m = 0; m < n_knots - p - 1; ++m) {
                    const KW_T iv = inv[m + 1], sh = shift[m + 1];
                    const KW_T *v1 = work + (m + 1) * KW_W;
                    KW_T *d = dst + m * ds;
                    for (int64_t j = 0; j < w; ++j) {
                        const KW_T u1 = (xb[j] * iv + sh) * v1[j];
                        d[j] = (v1[j] + carry[j]) - u1;
                        carry[j] = u1;
                    }
                }
            }
        }
    }
    free(work);
    return 0;
}

/* torch's float sum over rows (ATen's cascade_sum, SumKernel.cpp): the running sum of `size`
   rows (row r at p + r*rs) per column j < w, flushed into coarser accumulators every 16 rows
   (16^2, 16^3 with the carry rule below), into res. acc: 4*KW_W of scratch. */
static void KW(cascade)(const KW_T *restrict p, int64_t rs, int64_t size, int64_t w,
                        KW_T *restrict acc, KW_T *restrict res)
{
    KW_T *a0 = acc, *a1 = acc + KW_W, *a2 = acc + 2 * KW_W, *a3 = acc + 3 * KW_W;
    KW_T *lv[4] = {a0, a1, a2, a3};
    /* level_power = max(4, ceil(log2(size)) / 4) */
    int64_t clog = 0;
    while (((int64_t)1 << clog) < size)
        ++clog;
    if (size <= 2)
        clog = 1;
    const int64_t power = clog / 4 > 4 ? clog / 4 : 4;
    const int64_t step = (int64_t)1 << power, mask = step - 1;
    for (int64_t j = 0; j < w; ++j)
        a0[j] = a1[j] = a2[j] = a3[j] = 0;
    int64_t i = 0;
    while (i + step <= size) {
        for (int64_t s = 0; s < step; ++s, ++i) {
            const KW_T *r = p + i * rs;
            for (int64_t j = 0; j < w; ++j)
                a0[j] += r[j];
        }
        for (int64_t l = 1; l < 4; ++l) {
            KW_T *hi = lv[l], *lo = lv[l - 1];
            for (int64_t j = 0; j < w; ++j) {
                hi[j] += lo[j];
                lo[j] = 0;
            }
            if ((i & (mask << (l * power))) != 0)
                break;
        }
    }
    for (; i < size; ++i) {
        const KW_T *r = p + i * rs;
        for (int64_t j = 0; j < w; ++j)
            a0[j] += r[j];
    }
    for (int64_t j = 0; j < w; ++j)
        res[j] = ((a0[j] + a1[j]) + a2[j]) + a3[j];
}

/* ATen's row_sum: four interleaved cascades (rows r, r+4, ...), the leftover rows into the
   first, then the four added in order. */
static void KW(ilp_sum)(const KW_T *restrict p, int64_t rs, int64_t size, int64_t w,
                        KW_T *restrict acc, KW_T *restrict part, KW_T *restrict res)
{
    const int64_t n4 = size / 4;
    for (int64_t r = 0; r < 4; ++r)
        KW(cascade)(p + r * rs, 4 * rs, n4, w, acc, part + r * KW_W);
    for (int64_t i = 4 * n4; i < size; ++i)
        for (int64_t j = 0; j < w; ++j)
            part[j] += p[i * rs + j];
    for (int64_t j = 0; j < w; ++j)
        res[j] = ((part[j] + part[KW_W + j]) + part[2 * KW_W + j]) + part[3 * KW_W + j];
}

/* sum_m g[m] * dB_m/dx = sum_m ((prev_m*dinv_m) - (prev_{m+1}*dinv_{m+1})) * g_m per input and
   column: out[i*out_si + b] for b < B, m < n_b-1 (n_b = n_knots-k, prev's rows). The sum over m
   as torch's .sum(1) of the contiguous product [n_in, n_b-1, B] adds (one thread): columns in
   the leading whole groups of 4*vec (vec: ATen's Vectorized<T>::size(), or of 4 when B < vec)
   by one cascade, the rest by row_sum's interleaved one; a single column (B == 1) by the
   interleaved one (the caller checks that torch's inner reduction does the same then).
   Returns 0, or -1 when the work buffer cannot be allocated (nothing written then). */
int KW(kw_deriv)(const KW_T *restrict prev, int64_t prev_si, int64_t prev_sm,
                 const KW_T *restrict pk, int64_t n_knots, int64_t k,
                 const KW_T *restrict g, int64_t g_si, int64_t g_sm,
                 KW_T *restrict out, int64_t out_si, int64_t n_in, int64_t B, int64_t vec)
{
    const int64_t n_b = n_knots - k, K = n_b - 1;
    const KW_T *dinv_all = pk + (2 * k + 1) * n_in * n_knots;
    KW_T *restrict work = (KW_T *)malloc(sizeof(KW_T) * (size_t)((K + 9) * KW_W));
    if (work == NULL)
        return -1;
    KW_T *acc = work + K * KW_W, *part = acc + 4 * KW_W, *res = part + 4 * KW_W;
    const int64_t group = B >= vec ? 4 * vec : 4;
    const int64_t grouped = B == 1 ? 0 : B / group * group; /* columns summed by one cascade */
    for (int64_t i = 0; i < n_in; ++i) {
        const KW_T *dinv = dinv_all + i * n_knots;
        for (int64_t b0 = 0; b0 < B; b0 += KW_W) {
            const int64_t w = B - b0 < KW_W ? B - b0 : KW_W;
            KW_T *o = out + i * out_si + b0;
            /* columns [b0, b0+w) split at `grouped` into cascade and interleaved sums */
            int64_t wc = grouped - b0;
            wc = wc < 0 ? 0 : (wc > w ? w : wc);
            /* fewer than 16 rows: the cascade is a running sum from +0 (its coarser levels
               stay +0, and adding +0 changes no sum that starts at +0), so the products are
               summed as they are made, without a row buffer */
            const int64_t j0 = K < 16 ? wc : 0;
            if (j0 > 0) {
                for (int64_t j = 0; j < j0; ++j)
                    acc[j] = 0;
                for (int64_t m = 0; m < K; ++m) {
                    const KW_T d0 = dinv[m], d1 = dinv[m + 1];
                    const KW_T *p0 = prev + i * prev_si + m * prev_sm + b0;
                    const KW_T *p1 = p0 + prev_sm;
                    const KW_T *gm = g + i * g_si + m * g_sm + b0;
                    for (int64_t j = 0; j < j0; ++j)
                        acc[j] += (p0[j] * d0 - p1[j] * d1) * gm[j];
                }
                for (int64_t j = 0; j < j0; ++j)
                    o[j] = (KW_T)0 + acc[j];
            }
            if (j0 == w)
                continue;
            for (int64_t m = 0; m < K; ++m) {
                const KW_T d0 = dinv[m], d1 = dinv[m + 1];
                const KW_T *p0 = prev + i * prev_si + m * prev_sm + b0;
                const KW_T *p1 = p0 + prev_sm;
                const KW_T *gm = g + i * g_si + m * g_sm + b0;
                KW_T *r = work + m * KW_W;
                for (int64_t j = j0; j < w; ++j)
                    r[j] = (p0[j] * d0 - p1[j] * d1) * gm[j];
            }
            if (wc > j0) {
                KW(cascade)(work, KW_W, K, wc, acc, res);
                for (int64_t j = 0; j < wc; ++j)
                    o[j] = (KW_T)0 + res[j];
            }
            if (w > wc) {
                KW(ilp_sum)(work + wc, KW_W, K, w - wc, acc, part, res);
                for (int64_t j = 0; j < w - wc; ++j)
                    o[wc + j] = (KW_T)0 + res[j];
            }
        }
    }
    free(work);
    return 0;
}

/* ctypes entry points: every argument in one int64 array (pointers as integers), in the order
   of the functions above; ctypes converts one argument for ~0.3 us, so 14 cost more than the
   kernel on a small model (measured). */
int KW(kw_basis_a)(const int64_t *a)
{
    return KW(kw_basis)((const KW_T *)(intptr_t)a[0], a[1], a[2], a[3], a[4],
                        (const KW_T *)(intptr_t)a[5], a[6], a[7],
                        (KW_T *)(intptr_t)a[8], a[9], a[10],
                        (KW_T *)(intptr_t)a[11], a[12], a[13]);
}

int KW(kw_deriv_a)(const int64_t *a)
{
    return KW(kw_deriv)((const KW_T *)(intptr_t)a[0], a[1], a[2],
                        (const KW_T *)(intptr_t)a[3], a[4], a[5],
                        (const KW_T *)(intptr_t)a[6], a[7], a[8],
                        (KW_T *)(intptr_t)a[9], a[10], a[11], a[12], a[13]);
}

/* the magnitudes and the penalty (not bit-identical to torch: see there) */
#include "stats.c" /* from this file's directory */

#endif
