/* The fused layer's magnitudes (every edge's batch standard deviation from the features' Gram
matrix) and the sparsity penalty of the edge_forward_spline_* metrics, with their gradients,
for kan_widget/fused.py and kan_widget/regularizer.py, in plain C.

Small models are bound by per-operation dispatch: on [2,5,1] the penalty alone was 65 torch
operations (~230 us) and the magnitudes' forward and backward ~45 more, on arrays of a few
dozen numbers. Here each is one call. Unlike basis.c this is not bit-identical to the torch
path: every sum runs in float64 in plain loop order (torch's float32 penalty rounds each
step in float32), so results agree to rounding, not to the bit (tests/test_cstats.py checks the
gradients against autograd). Outputs are in the model's dtype; NaN and inf propagate as in
torch (no fmax/fmin, whose NaN rules differ from clamp_min).

Included once per dtype by basis.c (KW_T float / double); every argument comes in one int64
array (ctypes converts each argument separately, ~0.3 us each). */


#ifndef KW_STATS_ONCE
#define KW_STATS_ONCE
/* Sums in 8 independent lanes, then the lanes in order: without fast-math a single running
   sum is one long dependency chain (~4 cycles an element); lanes let the compiler vectorise
   (the order is fixed by this code, not by the compiler: results do not depend on flags). */
static double kw_dot8(const double *restrict p, const double *restrict q, int64_t n)
{
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t b = 0;
    for (; b + 8 <= n; b += 8)
        for (int j = 0; j < 8; ++j)
            l[j] += p[b + j] * q[b + j];
    double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (; b < n; ++b)
        s += p[b] * q[b];
    return s;
}
#endif

/* sum of n values of T in float64, in kw_dot8's lane order */
static double KW(sum8)(const KW_T *restrict p, int64_t n)
{
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t b = 0;
    for (; b + 8 <= n; b += 8)
        for (int j = 0; j < 8; ++j)
            l[j] += (double)p[b + j];
    double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (; b < n; ++b)
        s += (double)p[b];
    return s;
}

/* The magnitudes: cw[i,:,j] = cov[i] w[i,:,j] / (B-1), std[i,j] = sqrt(max(w^T cw, 1e-30)),
   value = std (/ x_den[i] for the "n" metric). cov: float64 [in][nf][nf] contiguous; w: T with
   strides (w_si, w_sk, w_sj); cw float64 [in][nf][out], std float64 [in][out], value T
   [in][out], contiguous. */
static void KW(stats_fwd)(const double *restrict cov, const KW_T *restrict w, int64_t w_si,
                          int64_t w_sk, int64_t w_sj, int64_t n_in, int64_t nf, int64_t n_out,
                          double bm1, const double *restrict x_den, double *restrict cw,
                          double *restrict std, KW_T *restrict value)
{
    for (int64_t i = 0; i < n_in; ++i) {
        const double *c = cov + i * nf * nf;
        const KW_T *wi = w + i * w_si;
        for (int64_t j = 0; j < n_out; ++j) {
            double var = 0.0;
            for (int64_t k = 0; k < nf; ++k) {
                double s = 0.0;
                for (int64_t m = 0; m < nf; ++m)
                    s += c[k * nf + m] * (double)wi[m * w_sk + j * w_sj];
                s /= bm1;
                cw[(i * nf + k) * n_out + j] = s;
                var += (double)wi[k * w_sk + j * w_sj] * s;
            }
            /* clamp_min: NaN stays NaN (a comparison with NaN is false) */
            const double sd = sqrt(var < 1e-30 ? 1e-30 : var);
            std[i * n_out + j] = sd;
            value[i * n_out + j] = (KW_T)(x_den != NULL ? sd / x_den[i] : sd);
        }
    }
}

/* The magnitudes' backward from gval (T, strides g_si, g_sj): with r = 1/x_den (the "n"
   metric), g_xstd[i] = -sum_j gval*std * r^2 and gstd = gval * r; gvar = gstd/std where
   std > 1e-15, else 0 (twice dL/dvar); gw[i,k,j] = cw * gvar (T, contiguous [in][nf][out]);
   M[i] = sum_j (w_j gvar_j) w_j^T / (B-1) (float64 [in][nf][nf], when M is not NULL);
   g_xstd (float64 [in], when not NULL). gv: n_out doubles of work. */
static void KW(stats_bwd)(const KW_T *restrict gval, int64_t g_si, int64_t g_sj,
                          const double *restrict std, const double *restrict cw,
                          const KW_T *restrict w, int64_t w_si, int64_t w_sk, int64_t w_sj,
                          int64_t n_in, int64_t nf, int64_t n_out, double bm1,
                          const double *restrict x_rden, KW_T *restrict gw, double *restrict M,
                          double *restrict g_xstd, double *restrict gv)
{
    for (int64_t i = 0; i < n_in; ++i) {
        const double r = x_rden != NULL ? x_rden[i] : 1.0;
        double gs = 0.0;
        for (int64_t j = 0; j < n_out; ++j) {
            const double g = (double)gval[i * g_si + j * g_sj];
            const double sd = std[i * n_out + j];
            gs += g * sd;
            const double gst = x_rden != NULL ? g * r : g;
            gv[j] = sd > 1e-15 ? gst / sd : 0.0;
        }
        if (g_xstd != NULL)
            g_xstd[i] = x_rden != NULL ? -gs * r * r : 0.0;
        for (int64_t k = 0; k < nf; ++k)
            for (int64_t j = 0; j < n_out; ++j)
                gw[(i * nf + k) * n_out + j] = (KW_T)(cw[(i * nf + k) * n_out + j] * gv[j]);
        if (M == NULL)
            continue;
        const KW_T *wi = w + i * w_si;
        double *Mi = M + i * nf * nf;
        for (int64_t k = 0; k < nf; ++k)
            for (int64_t m = 0; m <= k; ++m) {
                double s = 0.0;
                for (int64_t j = 0; j < n_out; ++j)
                    s += (double)wi[k * w_sk + j * w_sj] * gv[j] * (double)wi[m * w_sk + j * w_sj];
                s /= bm1;
                Mi[k * nf + m] = s;
                Mi[m * nf + k] = s;
            }
    }
}

/* pykan 0.2.8's penalty of one layer's magnitudes a [in][out] (strides a_si, a_sj):
   lamb_l1 * sum(a) + lamb_entropy * (row and column entropies, p = a / (sum + 1), log2,
   +1e-4 in the log, each averaged over the other axis); its gradient (T, contiguous) into g.
   work: 2*(in + out) + 2*in*out doubles. Returns the layer's penalty. */
static double KW(penalty)(const KW_T *restrict a, int64_t a_si, int64_t a_sj, int64_t n_in,
                          int64_t n_out, double l1w, double entw, KW_T *restrict g,
                          double *restrict work)
{
    double *s_row = work, *s_col = s_row + n_out; /* column sums (over i) + 1, row sums + 1 */
    double *hp_row = s_col + n_in, *hp_col = hp_row + n_out;
    double *h_row = hp_col + n_in, *h_col = h_row + n_in * n_out;
    const double ln2 = 0.69314718055994530942;
    double l1 = 0.0;
    for (int64_t j = 0; j < n_out; ++j)
        s_row[j] = 1.0, hp_row[j] = 0.0;
    for (int64_t i = 0; i < n_in; ++i) {
        double s = 1.0;
        for (int64_t j = 0; j < n_out; ++j) {
            const double v = (double)a[i * a_si + j * a_sj];
            s += v;
            s_row[j] += v;
            l1 += v;
        }
        s_col[i] = s;
        hp_col[i] = 0.0;
    }
    if (entw == 0.0) {
        for (int64_t i = 0; i < n_in * n_out; ++i)
            g[i] = (KW_T)l1w;
        return l1w * l1;
    }
    double e_row = 0.0, e_col = 0.0;
    for (int64_t i = 0; i < n_in; ++i)
        for (int64_t j = 0; j < n_out; ++j) {
            const double v = (double)a[i * a_si + j * a_sj];
            const double pr = v / s_row[j], pc = v / s_col[i];
            const double er = pr + 1e-4, ec = pc + 1e-4;
            const double lr = log2(er), lc = log2(ec);
            e_row += pr * lr;
            e_col += pc * lc;
            /* d(p log2(p + eps))/dp */
            const double hr = lr + pr / (er * ln2), hc = lc + pc / (ec * ln2);
            h_row[i * n_out + j] = hr;
            h_col[i * n_out + j] = hc;
            hp_row[j] += hr * pr;
            hp_col[i] += hc * pc;
        }
    /* through p = a / (sum + 1): d/da = (sum(h p) - h) / (sum + 1), over the averaged axis */
    for (int64_t i = 0; i < n_in; ++i)
        for (int64_t j = 0; j < n_out; ++j) {
            const double gr = (hp_row[j] - h_row[i * n_out + j]) / (s_row[j] * (double)n_out);
            const double gc = (hp_col[i] - h_col[i * n_out + j]) / (s_col[i] * (double)n_in);
            g[i * n_out + j] = (KW_T)(l1w + entw * (gr + gc));
        }
    const double ent = -e_row / (double)n_out - e_col / (double)n_in;
    return l1w * l1 + entw * ent;
}

/* a: [lambs (double[2]: lamb_l1, lamb_entropy), total (T*, one value), n_layers, then per
   layer a, n_in, n_out, a_si, a_sj, g]. Returns 0, or -1 when work cannot be allocated. */
int KW(kw_penalty_a)(const int64_t *a)
{
    const double *lambs = (const double *)(intptr_t)a[0];
    const int64_t n = a[2];
    int64_t most = 0;
    for (int64_t l = 0; l < n; ++l) {
        const int64_t *p = a + 3 + 6 * l;
        const int64_t need = 2 * (p[1] + p[2]) + 2 * p[1] * p[2];
        most = need > most ? need : most;
    }
    double *work = (double *)malloc(sizeof(double) * (size_t)(most > 0 ? most : 1));
    if (work == NULL)
        return -1;
    double total = 0.0;
    for (int64_t l = 0; l < n; ++l) {
        const int64_t *p = a + 3 + 6 * l;
        total += KW(penalty)((const KW_T *)(intptr_t)p[0], p[3], p[4], p[1], p[2], lambs[0],
                             lambs[1], (KW_T *)(intptr_t)p[5], work);
    }
    free(work);
    *(KW_T *)(intptr_t)a[1] = (KW_T)total;
    return 0;
}

/* a: [cov, w, w_si, w_sk, w_sj, n_in, nf, n_out, B, x_den (or 0), cw, std, value] */
int KW(kw_stats_fwd_a)(const int64_t *a)
{
    const double bm1 = (double)(a[8] > 1 ? a[8] - 1 : 1);
    KW(stats_fwd)((const double *)(intptr_t)a[0], (const KW_T *)(intptr_t)a[1], a[2], a[3],
                  a[4], a[5], a[6], a[7], bm1, (const double *)(intptr_t)a[9],
                  (double *)(intptr_t)a[10], (double *)(intptr_t)a[11],
                  (KW_T *)(intptr_t)a[12]);
    return 0;
}

/* a: [gval, g_si, g_sj, std, cw, w, w_si, w_sk, w_sj, n_in, nf, n_out, B, x_rden (or 0),
   gw, M (or 0), g_xstd (or 0)]. Returns 0, or -1 when work cannot be allocated. */
int KW(kw_stats_bwd_a)(const int64_t *a)
{
    double *gv = (double *)malloc(sizeof(double) * (size_t)(a[11] > 0 ? a[11] : 1));
    if (gv == NULL)
        return -1;
    const double bm1 = (double)(a[12] > 1 ? a[12] - 1 : 1);
    KW(stats_bwd)((const KW_T *)(intptr_t)a[0], a[1], a[2], (const double *)(intptr_t)a[3],
                  (const double *)(intptr_t)a[4], (const KW_T *)(intptr_t)a[5], a[6], a[7],
                  a[8], a[9], a[10], a[11], bm1, (const double *)(intptr_t)a[13],
                  (KW_T *)(intptr_t)a[14], (double *)(intptr_t)a[15],
                  (double *)(intptr_t)a[16], gv);
    free(gv);
    return 0;
}

/* The features' float64 moments in one pass (one batch chunk): fc = f - mean (float64
   [in][nf][B]), mean (float64 [in][nf]), cov = fc fc^T (float64 [in][nf][nf]); and when x is
   not NULL (the "n" metric, x: the inputs [in][B] with row stride x_si) the centred inputs xc
   (T [in][B]), their std over B-1 (T and float64 [in]), x_den = std + 0.1 and 1/x_den.
   a: [f, n_in, nf, B, fc, mean, cov, x, x_si, xc, x_std, x_std64, x_den, x_rden] */
int KW(kw_moments_a)(const int64_t *a)
{
    const KW_T *restrict f = (const KW_T *)(intptr_t)a[0];
    const int64_t n_in = a[1], nf = a[2], B = a[3];
    double *restrict fc = (double *)(intptr_t)a[4];
    double *restrict mean = (double *)(intptr_t)a[5];
    double *restrict cov = (double *)(intptr_t)a[6];
    const KW_T *restrict x = (const KW_T *)(intptr_t)a[7];
    for (int64_t r = 0; r < n_in * nf; ++r) {
        const KW_T *fr = f + r * B;
        double *cr = fc + r * B;
        const double m = KW(sum8)(fr, B) / (double)B;
        mean[r] = m;
        for (int64_t b = 0; b < B; ++b)
            cr[b] = (double)fr[b] - m;
    }
    for (int64_t i = 0; i < n_in; ++i) {
        const double *fi = fc + i * nf * B;
        double *ci = cov + i * nf * nf;
        for (int64_t k = 0; k < nf; ++k)
            for (int64_t m = 0; m <= k; ++m) {
                const double s = kw_dot8(fi + k * B, fi + m * B, B);
                ci[k * nf + m] = s;
                ci[m * nf + k] = s;
            }
    }
    if (x == NULL)
        return 0;
    const int64_t x_si = a[8];
    KW_T *restrict xc = (KW_T *)(intptr_t)a[9];
    KW_T *restrict x_std = (KW_T *)(intptr_t)a[10];
    double *restrict x_std64 = (double *)(intptr_t)a[11];
    double *restrict x_den = (double *)(intptr_t)a[12];
    double *restrict x_rden = (double *)(intptr_t)a[13];
    const double bm1 = (double)(B > 1 ? B - 1 : 1);
    for (int64_t i = 0; i < n_in; ++i) {
        const KW_T *xi = x + i * x_si;
        const double m = KW(sum8)(xi, B) / (double)B;
        double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t b = 0;
        for (; b + 8 <= B; b += 8)
            for (int j = 0; j < 8; ++j) {
                const double d = (double)xi[b + j] - m;
                xc[i * B + b + j] = (KW_T)d;
                l[j] += d * d;
            }
        double ss = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (; b < B; ++b) {
            const double d = (double)xi[b] - m;
            xc[i * B + b] = (KW_T)d;
            ss += d * d;
        }
        /* the std as the torch path rounds it: in T, then widened */
        const KW_T sd = (KW_T)sqrt(ss / bm1);
        x_std[i] = sd;
        x_std64[i] = (double)sd;
        x_den[i] = (double)sd + 0.1;
        x_rden[i] = 1.0 / x_den[i];
    }
    return 0;
}

/* The Gram matrix's part of the features' gradient, added into gf (T [in][nf][B], contiguous):
   gf[i] += (T)(M[i] fc[i]), M float64 [in][nf][nf], fc float64 [in][nf][B].
   a: [M, fc, gf, n_in, nf, B]. Returns 0, or -1 when work cannot be allocated. */
int KW(kw_gram_bwd_a)(const int64_t *a)
{
    const double *restrict M = (const double *)(intptr_t)a[0];
    const double *restrict fc = (const double *)(intptr_t)a[1];
    KW_T *restrict gf = (KW_T *)(intptr_t)a[2];
    const int64_t n_in = a[3], nf = a[4], B = a[5];
    double *acc = (double *)malloc(sizeof(double) * (size_t)(B > 0 ? B : 1));
    if (acc == NULL)
        return -1;
    for (int64_t i = 0; i < n_in; ++i)
        for (int64_t k = 0; k < nf; ++k) {
            const double *Mk = M + (i * nf + k) * nf;
            for (int64_t b = 0; b < B; ++b)
                acc[b] = 0.0;
            for (int64_t m = 0; m < nf; ++m) {
                const double c = Mk[m];
                const double *q = fc + (i * nf + m) * B;
                for (int64_t b = 0; b < B; ++b)
                    acc[b] += c * q[b];
            }
            KW_T *g = gf + (i * nf + k) * B;
            for (int64_t b = 0; b < B; ++b)
                g[b] += (KW_T)acc[b];
        }
    free(acc);
    return 0;
}
