/* ==== bitlinear: training, Hadamard rotation, dead-zone statistics ======== */
#ifdef __cplusplus
extern "C" {
#endif

/* ---- Hadamard rotation ---------------------------------------------------- */
/* Unnormalised fast Walsh-Hadamard transform of count vectors x[count][n], in place,
   O(n log n) each: x <- H_n x with H_n = [[H, H], [H, -H]]. n must be a power of two
   (1 included). H_n H_n^T = n I, so applying it twice multiplies by n. */
BITLINEAR_API bl_status bl_hadamard_transform(float *x, int n, int count);

/* Orthonormal randomised rotation R of count vectors x[count][n], in place, any n:
       R x = B (D x),   R^T x = D (B x)   (inverse != 0 applies R^T = R^-1)
   D flips signs, each sign drawn from `seed` (a stateless hash: nothing is stored but the
   seed). B is block diagonal: n is cut into the powers of two of its binary form,
   largest first (100 = 64 + 32 + 4), and each block gets H_b / sqrt(b). So the rotation
   mixes within a block only: power-of-two sizes mix everything; other sizes leave their
   small tail blocks less mixed. NaN/Inf in x gives BL_ERR_NONFINITE (x untouched). */
BITLINEAR_API bl_status bl_hadamard_rotate(float *x, int n, int count, uint64_t seed, int inverse);

/* ---- dead-zone statistics ---------------------------------------------------- */
/* How the weights of a tensor fall into the three trit bins. Each scale group (row or
   tensor) has a scale s and a rounding threshold tau between the 0 bin and the +-1 bins:
   tau = s/2 (OPTIMAL, ABSMEAN, learned LSQ scales), max|w|/2 (ABSMAX), 0.7 mean|w| (TWN). */
typedef struct bl_deadzone {
    double frac_neg, frac_zero, frac_pos; /* trits -1, 0, +1 (they sum to 1) */
    double frac_boundary;   /* | |w| - tau | < band * s: on the rounding knife-edge */
    double frac_zero_inner; /* trit 0 and |w| <= tau - band * s: deep inside the zero bin */
    double mean_scale;      /* mean of the groups' scales s */
} bl_deadzone;
/* w[rows][cols], quantized by method/scaling as bl_ternarize does; band >= 0, in units of s. */
BITLINEAR_API bl_status bl_deadzone_stats(const float *w, int rows, int cols, bl_method method,
                                          bl_scaling scaling, float band, bl_deadzone *out);

/* ---- trainable ternary layer ---------------------------------------------------- */
/* Quantization-aware training with float "shadow" weights W. The forward pass uses
   their ternarization Wq = s * t (straight-through estimator in the backward pass):
       forward   y  = Q(R x) Wq(W R^T)^T + b       R: Hadamard rotation, or identity
                                                   Q: per-token activation quantization, or identity
       backward  gWq = gy^T Q(R x)                 [out][in]
                 gW  = gWq R                       STE: d Wq / d W = 1 (rotated back)
                 galpha_g = sum_{r in g, i} t[r][i] gWq[r][i]      (LSQ: d Wq / d alpha = t)
                 gb  = sum over tokens of gy
                 gx  = R^T ((gy * s) t)            STE through Q: identity
   The products with t (forward) and t^T (input gradient) run through bl_linear layers,
   so they use the active backend's kernels. */
typedef struct bl_train_desc {
    int in_features, out_features;  /* each at most BL_MAX_IN_FEATURES (dx uses a W^T layer) */
    const float *weight;    /* initial [out][in]; NULL: uniform +-1/sqrt(in) drawn from seed */
    const float *bias;      /* initial [out]; NULL: zeros if has_bias */
    int has_bias;           /* nonzero (or bias given): the layer has a bias */
    bl_method method;       /* ternarization of the forward (default OPTIMAL) ... */
    bl_scaling scaling;     /* ... with per-row (default) or per-tensor scales */
    int lsq;                /* nonzero: learned scales alpha, one per group of `scaling`, started
                               at mean|w| (ABSMEAN); t = clamp(round(w / alpha), -1, 1) */
    int act_bits;           /* 0: float activations; 2..8: per-token quantized (INT8 path) */
    int hadamard;           /* nonzero: rotate weights (before quantization) and inputs */
    uint64_t seed;          /* weight init and rotation signs; 0 means a fixed default */
    int full_precision;     /* nonzero: no ternarization in training (a float baseline) */
    bl_format format;       /* packing of the kernels' layers and of the export */
} bl_train_desc;
typedef struct bl_train_linear bl_train_linear;   /* opaque; not thread-safe */

/* Mutable views of a layer's tensors. After writing weight, bias or alpha, call
   bl_train_refresh. Gradients accumulate over backward calls until bl_train_zero_grad. */
typedef struct bl_train_tensors {
    int in_features, out_features, groups;  /* groups: 1 (TENSOR) or out (ROW) */
    float *weight, *bias, *alpha;           /* [out][in], [out] or NULL, [groups] or NULL */
    float *grad_weight, *grad_bias, *grad_alpha;
    uint64_t rotation_seed;                 /* the seed of R (meaningful when rotated) */
    int rotated;
} bl_train_tensors;

typedef enum bl_optimizer_kind { BL_OPT_ADAM = 0, BL_OPT_SGD } bl_optimizer_kind;
typedef struct bl_optimizer {
    bl_optimizer_kind kind;
    float lr;               /* 0 means 1e-3 (Adam) or 1e-2 (SGD) */
    float beta1, beta2;     /* Adam; 0 means 0.9, 0.999 */
    float eps;              /* Adam; 0 means 1e-8 */
    float momentum;         /* SGD; 0 means none */
    float weight_decay;     /* decoupled (AdamW style) on weights only; 0 means none */
} bl_optimizer;

BITLINEAR_API bl_status bl_train_create(const bl_train_desc *desc, bl_train_linear **out);
BITLINEAR_API void      bl_train_destroy(bl_train_linear *layer);     /* NULL is fine */
BITLINEAR_API bl_status bl_train_tensors_get(bl_train_linear *layer, bl_train_tensors *t);
/* Re-quantizes after the caller changed weights, bias or alpha. */
BITLINEAR_API bl_status bl_train_refresh(bl_train_linear *layer);
/* x[batch][in] -> y[batch][out] with the current (ternarized) weights. */
BITLINEAR_API bl_status bl_train_forward(bl_train_linear *layer, const float *x, int batch, float *y);
/* Adds this batch's gradients (dy = dL/dy [batch][out], x as given to forward) to the
   layer's; dx [batch][in] gets dL/dx, or pass NULL. */
BITLINEAR_API bl_status bl_train_backward(bl_train_linear *layer, const float *x, int batch,
                                          const float *dy, float *dx);
BITLINEAR_API bl_status bl_train_zero_grad(bl_train_linear *layer);
/* One optimizer step on weights, bias and alpha (opt NULL: Adam defaults), then refresh.
   Bad options or non-finite gradients change nothing; if the update itself overflows to
   Inf the refresh reports BL_ERR_NONFINITE and the weights keep the update. */
BITLINEAR_API bl_status bl_train_step(bl_train_linear *layer, const bl_optimizer *opt);
/* The forward's ternary weights: trits[out][in] and scales[out] (per-tensor scales repeated). */
BITLINEAR_API bl_status bl_train_ternary(const bl_train_linear *layer, int8_t *trits, float *scales);
/* An inference layer giving the same outputs as bl_train_forward (bit for bit, same
   backend); full_precision layers are ternarized here. A rotated layer keeps its
   rotation (desc.hadamard): bl_linear_forward rotates the inputs itself. */
BITLINEAR_API bl_status bl_train_export(const bl_train_linear *layer, bl_linear **out);
/* Dead-zone statistics of the (rotated) shadow weights under the layer's quantizer. */
BITLINEAR_API bl_status bl_train_deadzone(const bl_train_linear *layer, float band, bl_deadzone *out);

#ifdef __cplusplus
}
#endif
