/* Activation functions. GLSL has no erf; mm_erf is the rational minimax
 * approximation Eigen and XLA use for float (|error| < 2e-7 on [-4, 4],
 * saturating to +-1 outside, where float erf is +-1 anyway). */
float mm_erf(float x)
{
    x = clamp(x, -4.0, 4.0);
    const float x2 = x * x;
    float num = fma(x2, -2.72614225801306e-10, 2.77068142495902e-08);
    num = fma(x2, num, -2.10102402082508e-06);
    num = fma(x2, num, -5.69250639462346e-05);
    num = fma(x2, num, -7.34990630326855e-04);
    num = fma(x2, num, -2.95459980854025e-03);
    num = fma(x2, num, -1.60960333262415e-02);
    float den = fma(x2, -1.45660718464996e-05, -2.13374055278905e-04);
    den = fma(x2, den, -1.68282697438203e-03);
    den = fma(x2, den, -7.37332916720468e-03);
    den = fma(x2, den, -1.42647390514189e-02);
    return x * num / den;
}

/* tanh without the overflow of (e^x - e^-x)/(e^x + e^-x) for large |x|. */
float mm_tanh(float x)
{
    const float t = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - t) / (1.0 + t);
}

float mm_gelu_erf(float x) { return 0.5 * x * (1.0 + mm_erf(x * 0.70710678118654752)); }

/* The cube is taken of x clamped to +-10, where tanh has long saturated:
 * x^3 overflows for |x| > 1.9e12. */
float mm_gelu_tanh(float x)
{
    const float c = clamp(x, -10.0, 10.0);
    return 0.5 * x * (1.0 + mm_tanh(0.79788456080286536 * (c + 0.044715 * c * c * c)));
}

/* x * sigmoid(1.702 x) with the exponent never positive: 1 + exp(-1.702 x)
 * overflows for x < -52, and a driver assuming no infinities may then
 * return anything. */
float mm_gelu_quick(float x)
{
    const float t = exp(-1.702 * abs(x));
    return x * (x >= 0.0 ? 1.0 : t) / (1.0 + t);
}
