// Transform matrices of the Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) (WinogradConv.cs; the weight transform G
// is applied on the host, in double, when the weights are loaded). TILE (WINOGRAD_TILE, set by the module's variant
// line; 4 by default): output rows/columns per tile; ALPHA = TILE + 2 input rows/columns per tile.
//
// F(2,3): the usual interpolation points 0, 1, -1, infinity.
// F(4,3): points 0, 1, -1, 2, -1/2, infinity rather than the common 0, +-1, +-2: smaller transform coefficients give
// about a third of the float32 error (docs/performance.md, "Measurements formerly in code comments"). Every
// coefficient below is a dyadic fraction, exact in float.
//
// Each output is one fixed expression of its inputs (no reordering between invocations), so a tile's result does not
// depend on which invocation or dispatch computes it.

#ifndef WFVAE_WINOGRAD_GLSL
#define WFVAE_WINOGRAD_GLSL

#ifndef WINOGRAD_TILE
#define WINOGRAD_TILE 4
#endif
const int TILE = WINOGRAD_TILE;
const int ALPHA = TILE + 2;

// B^T applied to one line of ALPHA inputs (a column, then a row, of the input tile).
void winogradInputLine(in float d[ALPHA], out float r[ALPHA])
{
#if WINOGRAD_TILE == 2
    {
        r[0] = d[0] - d[2];
        r[1] = d[1] + d[2];
        r[2] = d[2] - d[1];
        r[3] = d[1] - d[3];
    }
#else
    {
        r[0] = d[0] + 1.5 * d[1] - 2.0 * d[2] - 1.5 * d[3] + d[4];
        r[1] = -d[1] - 2.5 * d[2] - 0.5 * d[3] + d[4];
        r[2] = d[1] + 0.5 * d[2] - 2.5 * d[3] + d[4];
        r[3] = -0.5 * d[1] - d[2] + 0.5 * d[3] + d[4];
        r[4] = 2.0 * d[1] - d[2] - 2.0 * d[3] + d[4];
        r[5] = d[1] + 1.5 * d[2] - 2.0 * d[3] - 1.5 * d[4] + d[5];
    }
#endif
}

// A^T applied to one line of ALPHA transformed values (a column, then a row, of the product tile).
void winogradOutputLine(in float m[ALPHA], out float o[TILE])
{
#if WINOGRAD_TILE == 2
    {
        o[0] = m[0] + m[1] + m[2];
        o[1] = m[1] - m[2] - m[3];
    }
#else
    {
        o[0] = m[0] + m[1] + m[2] + m[3] + m[4];
        o[1] = m[1] - m[2] + 2.0 * m[3] - 0.5 * m[4];
        o[2] = m[1] + m[2] + 4.0 * m[3] + 0.25 * m[4];
        o[3] = m[1] - m[2] + 8.0 * m[3] - 0.125 * m[4] + m[5];
    }
#endif
}

#endif
