/* CPU kernels built on OpenBLAS: matmul (sgemm straight on the operands
 * when their strides are a layout BLAS reads, else packed first),
 * attention (per head: scores by sgemm, threaded softmax, sgemm with V; a
 * fused row loop for few queries), and conv1d / patch embedding as im2col +
 * sgemm; decoder-step matmuls (few rows) use a threaded dot/axpy loop.
 * All parallelism comes from the backend's pool: each thread calls a
 * single-threaded OpenBLAS on its own slice, so there are never more busy
 * threads than the backend's count. */
#include "cpu_backend.h"
#include "vec.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- threaded sgemm ------------------------------------------------------------------ */

/* OpenBLAS allows this many concurrent single-threaded callers (its
 * MAX_THREADS buffers); slices beyond it would abort inside OpenBLAS. */
#define MAX_BLAS_SLICES 64

typedef struct sgemm_job {
    CBLAS_TRANSPOSE ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float beta;
    float *C;
    bool by_cols; /* slice C by columns (few rows) instead of rows */
} sgemm_job;

static void sgemm_slice(void *p, int32_t ith, int32_t nth)
{
    const sgemm_job *j = p;
    int64_t len = j->by_cols ? j->N : j->M, i0 = len * ith / nth, i1 = len * (ith + 1) / nth;
    if (i0 == i1)
        return;
    if (j->by_cols) {
        const float *b = j->B + (j->tb == CblasNoTrans ? i0 : i0 * j->ldb);
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, (int)j->M, (int)(i1 - i0), (int)j->K, 1.0f, j->A, (int)j->lda, b,
                    (int)j->ldb, j->beta, j->C + i0, (int)j->ldc);
    } else {
        const float *a = j->A + (j->ta == CblasNoTrans ? i0 * j->lda : i0);
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, (int)(i1 - i0), (int)j->N, (int)j->K, 1.0f, a, (int)j->lda, j->B,
                    (int)j->ldb, j->beta, j->C + i0 * j->ldc, (int)j->ldc);
    }
}

/* Row-major C[M,N] = op(A)[M,K] . op(B)[K,N] + beta*C. The pool's threads
 * each run a single-threaded sgemm on a slice of C (rows, or columns when
 * there are few rows); cpu_backend.c keeps OpenBLAS at one thread during a
 * compute, so the pool is the only source of parallelism. Measured on the
 * shared 2-core machine this matches OpenBLAS's own threading when idle and
 * degrades less under load (its threads spin-wait). */
static void sgemm(mm_cpu_ctx *ctx, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    sgemm_job j = {ta, tb, M, N, K, lda, ldb, ldc, A, B, beta, C, false};
    int32_t nth = ctx && ctx->pool ? ctx->n_threads : 1;
    if (nth > MAX_BLAS_SLICES)
        nth = MAX_BLAS_SLICES;
    if (2.0 * (double)M * (double)N * (double)K < 1e6) /* too small to split */
        nth = 1;
    /* Each thread packs all of the operand it does not slice, so slice the
     * larger side: columns when C is much wider than tall, as with ViT's
     * 197 tokens against its 768-3072 wide layers (~8% faster end to end). */
    j.by_cols = N > 2 * M || (M < 8 * (int64_t)nth && N > M);
    mm_threadpool_run(nth > 1 ? ctx->pool : NULL, nth, sgemm_slice, &j);
}

/* ---- matmul --------------------------------------------------------------------- */

/* How BLAS reads an R x K operand whose element (k, r) sits at k*nbk + r*nbr
 * bytes: row-major R x K (NoTrans) or row-major K x R (Trans), with leading
 * dimension *ld. False when neither works (the operand must be packed). */
static bool blas_layout(int64_t R, int64_t K, size_t nbk, size_t nbr, CBLAS_TRANSPOSE *tr, int64_t *ld)
{
    if (nbk % 4 || nbr % 4)
        return false;
    int64_t sk = (int64_t)(nbk / 4), sr = (int64_t)(nbr / 4);
    if (K == 1) /* the stride of a size-1 dimension is meaningless */
        sk = 1;
    if (R == 1)
        sr = sk == 1 ? K : 1;
    if (sk == 1 && sr >= K) {
        *tr = CblasNoTrans;
        *ld = sr;
        return true;
    }
    if (sr == 1 && sk >= R) {
        *tr = CblasTrans;
        *ld = sk;
        return true;
    }
    return false;
}

typedef struct pack_job {
    float *dst;
    const char *src;
    int64_t K;
    size_t nbk, nbr;
} pack_job;

static void pack_rows(void *p, int64_t r0, int64_t r1)
{
    const pack_job *j = p;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t k = 0; k < j->K; k++)
            memcpy(&j->dst[r * j->K + k], j->src + r * (int64_t)j->nbr + k * (int64_t)j->nbk, 4);
}

/* A row-major R x K copy of a strided operand. */
static void pack(mm_cpu_ctx *ctx, float *dst, const void *src, int64_t R, int64_t K, size_t nbk, size_t nbr)
{
    pack_job j = {dst, src, K, nbk, nbr};
    mm_cpu_parallel(ctx, R, 2.0 * (double)K, pack_rows, &j);
}

typedef struct operand {
    const float *p;
    CBLAS_TRANSPOSE tr; /* NoTrans: row-major rows x K; Trans: row-major K x rows */
    int64_t ld;
} operand;

/* Decoder steps multiply a weight by a few rows: stream each weight row once
 * and dot it with every b row, threads splitting the weight. On these shapes
 * sgemm and sgemv leave much of the memory bandwidth unused. */
#define SKINNY_MAX_N MM_VEC_MULTI_MAX

typedef struct skinny_job {
    const operand *A, *B;
    int64_t M, N, K;
    float *C;
} skinny_job;

/* A row-major M x K: C[n, m] = A_m . B_n for weight rows [m0, m1). */
static void skinny_rows(void *p, int64_t m0, int64_t m1)
{
    const skinny_job *j = p;
    mm_vec_dot_multi(j->C, j->M, j->A->p, MM_VEC_F32, j->A->ld, j->B->p, j->B->ld, j->N, m0, m1, j->K);
}

/* A stored K x M (a transposed [in,out] weight, GPT-2's Conv1D):
 * C[n, m0..m1) = sum_k b[n,k] A[k, m0..m1), columns in blocks whose N
 * partial sums stay in registers while the weight rows stream by. */
static void skinny_cols(void *p, int64_t m0, int64_t m1)
{
    const skinny_job *j = p;
    for (int64_t n = 0; n < j->N; n++)
        memset(j->C + n * j->M + m0, 0, (size_t)(m1 - m0) * sizeof(float));
    mm_vec_axpy_multi(j->C + m0, j->M, j->B->p, j->B->ld, j->A->p + m0, j->A->ld, j->N, j->K, m1 - m0);
}

/* C (N x M, row-major, ldc M) = B (N x K) . A^T, A being M x K. */
static void gemm(mm_cpu_ctx *ctx, const operand *A, const operand *B, int64_t M, int64_t N, int64_t K, float *C)
{
    if (N <= SKINNY_MAX_N && B->tr == CblasNoTrans) {
        skinny_job j = {A, B, M, N, K, C};
        if (A->tr == CblasNoTrans)
            mm_cpu_parallel(ctx, M, 2.0 * (double)(N * K), skinny_rows, &j);
        else
            mm_cpu_parallel(ctx, M, 2.0 * (double)(N * K), skinny_cols, &j);
        return;
    }
    sgemm(ctx, B->tr, A->tr == CblasNoTrans ? CblasTrans : CblasNoTrans, N, M, K, B->p, B->ld, A->p, A->ld, 0.0f, C,
          M);
}

static bool strides_aligned(const mm_tensor *t)
{
    for (int i = 0; i < MM_MAX_DIMS; i++)
        if (t->nb[i] % 4)
            return false;
    return true;
}

/* The rows of all of b's batches as one (N*B2*B3) x K operand, when they are
 * evenly spaced (a activation {K,N,B..} times a weight shared by all). */
static bool merged_rows(const mm_tensor *b, CBLAS_TRANSPOSE *tr, int64_t *ld)
{
    int64_t N = b->ne[1], B2 = b->ne[2], B3 = b->ne[3];
    size_t s = N > 1 ? b->nb[1] : B2 > 1 ? b->nb[2] : b->nb[3];
    if ((N > 1 && b->nb[1] != s) || (B2 > 1 && b->nb[2] != s * (size_t)N) ||
        (B3 > 1 && b->nb[3] != s * (size_t)(N * B2)))
        return false;
    return blas_layout(N * B2 * B3, b->ne[0], b->nb[0], s, tr, ld) && *tr == CblasNoTrans;
}

/* ---- matmul with an F16/BF16 weight read in place ------------------------------------ */

typedef struct half_job {
    const uint16_t *W; /* M rows of K */
    bool bf16;
    const float *B;    /* N rows of K, ld apart */
    int64_t ld, M, N, K;
    float *C;          /* N x M */
    float *Wf;         /* widened rows [m0, m0 + rows) */
    int64_t m0;
} half_job;

static void half_dot_rows(void *p, int64_t m0, int64_t m1)
{
    const half_job *j = p;
    mm_vec_dot_multi(j->C, j->M, j->W, j->bf16 ? MM_VEC_BF16 : MM_VEC_F16, j->K, j->B, j->ld, j->N, m0, m1, j->K);
}

static void half_widen_rows(void *p, int64_t r0, int64_t r1)
{
    const half_job *j = p;
    mm_vec_widen(j->Wf + r0 * j->K, j->W + (j->m0 + r0) * j->K, (r1 - r0) * j->K, j->bf16);
}

/* Weight rows widened per block for sgemm: about 4 MiB of F32 at a time. */
#define HALF_BLOCK_FLOATS ((int64_t)1 << 20)

/* out = b . W^T for a contiguous 2-D F16/BF16 weight W {K, M}: decoding
 * steps (few rows) dot the half rows directly, streaming half the bytes;
 * longer inputs widen the weight block by block into scratch for sgemm. */
static mm_status matmul_half(const mm_cpu_args *a)
{
    const mm_tensor *sa = a->t->src[0], *sb = a->t->src[1];
    half_job j = {.W = a->src[0], .bf16 = a->src_storage[0] == MM_DTYPE_BF16, .K = sa->ne[0], .M = sa->ne[1],
                  .N = sb->ne[1] * sb->ne[2] * sb->ne[3], .C = a->dst};
    CBLAS_TRANSPOSE tr;
    bool direct = strides_aligned(sb) && merged_rows(sb, &tr, &j.ld);
    int64_t block = HALF_BLOCK_FLOATS / j.K < 64 ? 64 : HALF_BLOCK_FLOATS / j.K;
    block = block < j.M ? block : j.M;
    bool skinny = j.N <= SKINNY_MAX_N;
    size_t packed = direct ? 0 : (size_t)(j.N * j.K), widened = skinny ? 0 : (size_t)(block * j.K);
    float *work = packed + widened ? mm_cpu_scratch(a->ctx, (packed + widened) * sizeof(float)) : NULL;
    if (packed + widened && !work)
        return MM_ERR_NOMEM;
    if (direct) {
        j.B = a->src[1];
    } else { /* b's rows, batch by batch, as one N x K block */
        int64_t n1 = sb->ne[1];
        for (int64_t i3 = 0; i3 < sb->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < sb->ne[2]; i2++)
                pack(a->ctx, work + ((i3 * sb->ne[2] + i2) * n1) * j.K, mm_cpu_at(a->src[1], sb, 0, 0, i2, i3), n1,
                     j.K, sb->nb[0], sb->nb[1]);
        j.B = work;
        j.ld = j.K;
    }
    if (skinny) {
        mm_cpu_parallel(a->ctx, j.M, 2.0 * (double)(j.N * j.K), half_dot_rows, &j);
        return MM_OK;
    }
    j.Wf = work + packed;
    for (j.m0 = 0; j.m0 < j.M; j.m0 += block) {
        int64_t rows = j.M - j.m0 < block ? j.M - j.m0 : block;
        mm_cpu_parallel(a->ctx, rows, (double)j.K, half_widen_rows, &j);
        sgemm(a->ctx, CblasNoTrans, CblasTrans, j.N, rows, j.K, j.B, j.ld, j.Wf, j.K, 0.0f, j.C + j.m0, j.M);
    }
    return MM_OK;
}

mm_status mm_cpu_matmul(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    if (a->src_storage[0] != MM_DTYPE_F32)
        return matmul_half(a);
    if (!strides_aligned(sa) || !strides_aligned(sb))
        return mm_cpu_ref_kernels[MM_OP_MATMUL](a);
    int64_t K = sa->ne[0], M = sa->ne[1], N = sb->ne[1], B2 = sb->ne[2], B3 = sb->ne[3];
    int64_t r2 = B2 / sa->ne[2], r3 = B3 / sa->ne[3];
    float *dst = a->dst;

    operand A = {0}, B = {0};
    bool a_direct = blas_layout(M, K, sa->nb[0], sa->nb[1], &A.tr, &A.ld);
    if (sa->ne[2] == 1 && sa->ne[3] == 1 && a_direct && (B2 > 1 || B3 > 1) && merged_rows(sb, &B.tr, &B.ld)) {
        A.p = a->src[0];
        B.p = a->src[1];
        gemm(a->ctx, &A, &B, M, N * B2 * B3, K, dst);
        return MM_OK;
    }
    bool b_direct = blas_layout(N, K, sb->nb[0], sb->nb[1], &B.tr, &B.ld);
    float *pa = NULL, *pb = NULL;
    if (!a_direct || !b_direct) {
        size_t na = a_direct ? 0 : (size_t)(M * K), nbf = b_direct ? 0 : (size_t)(N * K);
        float *work = mm_cpu_scratch(a->ctx, (na + nbf) * sizeof(float));
        if (!work)
            return MM_ERR_NOMEM;
        pa = a_direct ? NULL : work;
        pb = b_direct ? NULL : work + na;
    }
    int64_t last_a = -1;
    for (int64_t i3 = 0; i3 < B3; i3++)
        for (int64_t i2 = 0; i2 < B2; i2++) {
            const char *ba = mm_cpu_at(a->src[0], sa, 0, 0, i2 / r2, i3 / r3);
            const char *bb = mm_cpu_at(a->src[1], sb, 0, 0, i2, i3);
            if (pa) {
                int64_t ia = (i3 / r3) * sa->ne[2] + i2 / r2; /* repack only when a's batch changes */
                if (ia != last_a)
                    pack(a->ctx, pa, ba, M, K, sa->nb[0], sa->nb[1]);
                last_a = ia;
                A = (operand){pa, CblasNoTrans, K};
            } else {
                A.p = (const float *)ba;
            }
            if (pb) {
                pack(a->ctx, pb, bb, N, K, sb->nb[0], sb->nb[1]);
                B = (operand){pb, CblasNoTrans, K};
            } else {
                B.p = (const float *)bb;
            }
            gemm(a->ctx, &A, &B, M, N, K, dst + (i3 * B2 + i2) * N * M);
        }
    return MM_OK;
}

/* ---- attention ------------------------------------------------------------------------ */

typedef struct attn_job {
    const mm_cpu_args *a;
    float *scores;
    int64_t block, n_blocks; /* gemm path: query rows per unit, units per head */
    int64_t b, h, q0;        /* the unit whose scores a softmax job normalises */
} attn_job;

/* Softmax of score rows [r0, r1) of the unit (b, h, q0). */
static void attn_softmax_rows_of(const attn_job *j, float *scores, int64_t b, int64_t h, int64_t q0, int64_t r0,
                                 int64_t r1)
{
    const mm_tensor *t = j->a->t;
    int64_t Tk = t->src[1]->ne[1], Tq = t->src[0]->ne[1];
    for (int64_t r = r0; r < r1; r++)
        mm_cpu_softmax_row(scores + r * Tk, Tk, t->op_f[0], mm_cpu_mask_row(j->a->src[3], t->src[3], q0 + r, h, b),
                           t->op_i[0], q0 + r, Tq);
}

static void attn_softmax_rows(void *p, int64_t r0, int64_t r1)
{
    const attn_job *j = p;
    attn_softmax_rows_of(j, j->scores, j->b, j->h, j->q0, r0, r1);
}

/* One unit of the gemm path: query rows [q0, q0 + block) of head h, batch b:
 * scores = Q.K^T, softmax, out = P.V; threaded inside when `ctx` is given,
 * else single-threaded (units running side by side). */
static void attn_unit(const attn_job *j, mm_cpu_ctx *ctx, float *scores, int64_t b, int64_t h, int64_t q0)
{
    const mm_cpu_args *a = j->a;
    const mm_tensor *q = a->t->src[0], *k = a->t->src[1], *v = a->t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], H = q->ne[2], Tk = k->ne[1], Dv = v->ne[0], rep = H / k->ne[2];
    int64_t nq = Tq - q0 < j->block ? Tq - q0 : j->block;
    const float *Q = (const float *)mm_cpu_at(a->src[0], q, 0, q0, h, b);
    const float *K = (const float *)mm_cpu_at(a->src[1], k, 0, 0, h / rep, b);
    const float *V = (const float *)mm_cpu_at(a->src[2], v, 0, 0, h / rep, b);
    float *O = (float *)a->dst + ((b * Tq + q0) * H + h) * Dv;
    sgemm(ctx, CblasNoTrans, CblasTrans, nq, Tk, D, Q, (int64_t)q->nb[1] / 4, K, (int64_t)k->nb[1] / 4, 0.0f, scores,
          Tk);
    if (ctx) {
        attn_job sj = *j;
        sj.scores = scores;
        sj.b = b;
        sj.h = h;
        sj.q0 = q0;
        mm_cpu_parallel(ctx, nq, 24.0 * (double)Tk, attn_softmax_rows, &sj);
    } else {
        attn_softmax_rows_of(j, scores, b, h, q0, 0, nq);
    }
    sgemm(ctx, CblasNoTrans, CblasNoTrans, nq, Dv, Tk, scores, Tk, V, (int64_t)v->nb[1] / 4, 0.0f, O, H * Dv);
}

/* Units split over the pool's threads, each with its own scores. */
static void attn_units_task(void *p, int32_t ith, int32_t nth)
{
    const attn_job *j = p;
    const mm_tensor *q = j->a->t->src[0];
    int64_t n = q->ne[3] * q->ne[2] * j->n_blocks, Tk = j->a->t->src[1]->ne[1];
    float *scores = j->scores + (size_t)ith * (size_t)(j->block * Tk);
    for (int64_t u = n * ith / nth; u < n * (ith + 1) / nth; u++) {
        int64_t qb = u % j->n_blocks, h = (u / j->n_blocks) % q->ne[2], b = u / (j->n_blocks * q->ne[2]);
        attn_unit(j, NULL, scores, b, h, qb * j->block);
    }
}

/* Row path (decoder steps): units of up to MM_VEC_MULTI_MAX query rows of
 * one head, u = ((b*H + h)*n_groups + g), each query with its own Tk
 * scores; a unit reads its head's keys and values once for all its rows
 * (the beams sharing a source arrive as rows of one head). */
static void attn_fused_rows(void *p, int64_t u0, int64_t u1)
{
    const attn_job *j = p;
    const mm_cpu_args *a = j->a;
    const mm_tensor *t = a->t, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], H = q->ne[2], Tk = k->ne[1], Dv = v->ne[0], rep = H / k->ne[2];
    int64_t n_groups = (Tq + MM_VEC_MULTI_MAX - 1) / MM_VEC_MULTI_MAX;
    for (int64_t u = u0; u < u1; u++) {
        int64_t g = u % n_groups, h = (u / n_groups) % H, b = u / (n_groups * H);
        int64_t i0 = g * MM_VEC_MULTI_MAX, nq = Tq - i0 < MM_VEC_MULTI_MAX ? Tq - i0 : MM_VEC_MULTI_MAX;
        float *s = j->scores + ((b * H + h) * Tq + i0) * Tk;
        const float *K = (const float *)mm_cpu_at(a->src[1], k, 0, 0, h / rep, b);
        const float *V = (const float *)mm_cpu_at(a->src[2], v, 0, 0, h / rep, b);
        /* Keys masked to the end of every row get weight exactly 0: a
         * decoder step over a cache of T_max rows reads only the filled ones. */
        int64_t n = 0;
        for (int64_t i = i0; i < i0 + nq && n < Tk; i++) {
            const float *mask = mm_cpu_mask_row(a->src[3], t->src[3], i, h, b);
            int64_t ni = Tk;
            while (mask && ni > n && mask[ni - 1] == -INFINITY)
                ni--;
            n = ni > n ? ni : n;
        }
        mm_vec_dot_multi(s, Tk, K, MM_VEC_F32, (int64_t)k->nb[1] / 4, (const float *)mm_cpu_at(a->src[0], q, 0, i0, h, b),
                         (int64_t)q->nb[1] / 4, nq, 0, n, D);
        for (int64_t i = i0; i < i0 + nq; i++) /* causal: the same keys as over all Tk */
            mm_cpu_softmax_row(s + (i - i0) * Tk, n, t->op_f[0], mm_cpu_mask_row(a->src[3], t->src[3], i, h, b),
                               t->op_i[0], i + (Tk - n), Tq);
        float *o = (float *)a->dst + ((b * Tq + i0) * H + h) * Dv;
        for (int64_t i = 0; i < nq; i++)
            memset(o + i * H * Dv, 0, (size_t)Dv * sizeof *o);
        mm_vec_axpy_multi(o, H * Dv, s, Tk, V, (int64_t)v->nb[1] / 4, nq, n, Dv);
    }
}

/* Query rows below this take the fused row loop (decoder steps). */
#define ATTN_GEMM_MIN_ROWS 16
/* Scores kept per head at once (floats): larger Tq x Tk go in query blocks. */
#define ATTN_MAX_SCORES (1 << 20)

mm_status mm_cpu_attention(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    if (!strides_aligned(q) || !strides_aligned(k) || !strides_aligned(v) || q->nb[0] != 4 || k->nb[0] != 4 ||
        v->nb[0] != 4 || (t->src[3] && !mm_tensor_is_contiguous(t->src[3])))
        return mm_cpu_ref_kernels[MM_OP_ATTENTION](a);
    int64_t D = q->ne[0], Tq = q->ne[1], H = q->ne[2], B = q->ne[3];
    int64_t Tk = k->ne[1], Dv = v->ne[0];
    attn_job j = {.a = a};

    if (Tq < ATTN_GEMM_MIN_ROWS || Tk < ATTN_GEMM_MIN_ROWS) {
        int64_t n_groups = (Tq + MM_VEC_MULTI_MAX - 1) / MM_VEC_MULTI_MAX, rows = B * H * Tq;
        if (!(j.scores = mm_cpu_scratch(a->ctx, (size_t)(rows * Tk) * sizeof(float))))
            return MM_ERR_NOMEM;
        mm_cpu_parallel(a->ctx, B * H * n_groups, (double)(rows / (B * H * n_groups)) * (double)Tk * (double)(D + Dv + 24),
                        attn_fused_rows, &j);
        return MM_OK;
    }

    if ((int64_t)q->nb[1] / 4 < D || (int64_t)k->nb[1] / 4 < D || (int64_t)v->nb[1] / 4 < Dv)
        return mm_cpu_ref_kernels[MM_OP_ATTENTION](a); /* overlapping rows: not a BLAS layout */
    j.n_blocks = (Tq * Tk + ATTN_MAX_SCORES - 1) / ATTN_MAX_SCORES;
    j.block = (Tq + j.n_blocks - 1) / j.n_blocks;
    int64_t units = B * H * j.n_blocks, nth = a->ctx->pool ? a->ctx->n_threads : 1;
    if (units < nth)
        nth = 1;
    if (!(j.scores = mm_cpu_scratch(a->ctx, (size_t)(nth * j.block * Tk) * sizeof(float))))
        return MM_ERR_NOMEM;
    if (nth > MAX_BLAS_SLICES)
        nth = MAX_BLAS_SLICES;
    if (nth > 1) {
        mm_threadpool_run(a->ctx->pool, (int32_t)nth, attn_units_task, &j);
        return MM_OK;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t qb = 0; qb < j.n_blocks; qb++)
                attn_unit(&j, a->ctx, j.scores, b, h, qb * j.block);
    return MM_OK;
}

/* ---- conv1d / patch embedding --------------------------------------------------------- */

/* out rows of `cols` values start as the bias (or zero) so sgemm adds onto them. */
static float fill_bias(float *out, int64_t rows, int64_t cols, const float *bias, bool per_row)
{
    if (!bias)
        return 0.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            out[r * cols + c] = per_row ? bias[r] : bias[c];
    return 1.0f;
}

typedef struct im2col_job {
    const float *x; /* one batch of {T, Cin} */
    float *col;     /* (Cin*K) x Tout */
    int64_t T, K, Tout;
    int32_t stride, pad;
} im2col_job;

static void im2col_rows(void *p, int64_t r0, int64_t r1)
{
    const im2col_job *j = p;
    for (int64_t r = r0; r < r1; r++) {
        int64_t ci = r / j->K, kk = r % j->K;
        const float *x = j->x + ci * j->T;
        float *c = j->col + r * j->Tout;
        for (int64_t o = 0; o < j->Tout; o++) {
            int64_t ti = o * j->stride + kk - j->pad;
            c[o] = ti >= 0 && ti < j->T ? x[ti] : 0.0f;
        }
    }
}

mm_status mm_cpu_conv1d(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *x = t->src[0], *w = t->src[1];
    for (int i = 0; i < 3; i++)
        if (t->src[i] && !mm_tensor_is_contiguous(t->src[i]))
            return mm_cpu_ref_kernels[MM_OP_CONV1D](a);
    int64_t T = x->ne[0], Cin = x->ne[1], K = w->ne[0], Cout = w->ne[2], Tout = t->ne[0], CK = Cin * K;
    float *col = mm_cpu_scratch(a->ctx, (size_t)(CK * Tout) * sizeof(float));
    if (!col)
        return MM_ERR_NOMEM;
    for (int64_t b = 0; b < t->ne[2]; b++) {
        im2col_job j = {(const float *)a->src[0] + b * T * Cin, col, T, K, Tout, t->op_i[0], t->op_i[1]};
        mm_cpu_parallel(a->ctx, CK, (double)Tout, im2col_rows, &j);
        float *out = (float *)a->dst + b * Cout * Tout;
        float beta = fill_bias(out, Cout, Tout, a->src[2], true);
        sgemm(a->ctx, CblasNoTrans, CblasNoTrans, Cout, Tout, CK, a->src[1], CK, col, Tout, beta, out, Tout);
    }
    return MM_OK;
}

typedef struct patch_job {
    const float *x; /* one image {W, H, C} */
    float *col;     /* patches x (C*P*P), (c, ky, kx) order like the weight */
    int64_t W, H, C, P;
} patch_job;

static void patch_rows(void *p, int64_t r0, int64_t r1)
{
    const patch_job *j = p;
    int64_t pw = j->W / j->P, P = j->P;
    for (int64_t r = r0; r < r1; r++) {
        int64_t py = r / pw, px = r % pw;
        float *c = j->col + r * j->C * P * P;
        for (int64_t ch = 0; ch < j->C; ch++)
            for (int64_t ky = 0; ky < P; ky++)
                memcpy(c + (ch * P + ky) * P, j->x + (ch * j->H + py * P + ky) * j->W + px * P, (size_t)P * sizeof(float));
    }
}

mm_status mm_cpu_patch_embed(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *x = t->src[0], *w = t->src[1];
    for (int i = 0; i < 3; i++)
        if (t->src[i] && !mm_tensor_is_contiguous(t->src[i]))
            return mm_cpu_ref_kernels[MM_OP_PATCH_EMBED](a);
    int64_t W = x->ne[0], H = x->ne[1], C = x->ne[2], P = w->ne[0], Cout = w->ne[3], np = t->ne[1], CPP = C * P * P;
    float *col = mm_cpu_scratch(a->ctx, (size_t)(np * CPP) * sizeof(float));
    if (!col)
        return MM_ERR_NOMEM;
    for (int64_t b = 0; b < t->ne[2]; b++) {
        patch_job j = {(const float *)a->src[0] + b * W * H * C, col, W, H, C, P};
        mm_cpu_parallel(a->ctx, np, (double)CPP, patch_rows, &j);
        float *out = (float *)a->dst + b * np * Cout;
        float beta = fill_bias(out, np, Cout, a->src[2], false);
        sgemm(a->ctx, CblasNoTrans, CblasTrans, np, Cout, CPP, col, CPP, a->src[1], CPP, beta, out, Cout);
    }
    return MM_OK;
}
