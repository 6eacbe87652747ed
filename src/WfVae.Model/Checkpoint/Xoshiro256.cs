using System.Numerics;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// xoshiro256** (Blackman and Vigna): fast, statistically strong, and its output is fixed by the
/// algorithm, unlike System.Random whose sequence may change between .NET versions. Generated
/// checkpoints must stay byte-identical for a seed.
/// </summary>
internal struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed)
    {
        // SplitMix64 spreads any seed (0 included) over the whole state, which must not be all zero.
        _s0 = SplitMix64(ref seed);
        _s1 = SplitMix64(ref seed);
        _s2 = SplitMix64(ref seed);
        _s3 = SplitMix64(ref seed);
    }

    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) on the 2^-24 grid, so every value is an exact float.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>
    /// Fills <paramref name="span"/> uniformly from [low, low + width), two 24-bit draws per 64-bit
    /// output: the generator is the main cost of writing a 317 M-value checkpoint.
    /// </summary>
    public void FillUniform(Span<float> span, float low, float width)
    {
        const float unit = 1.0f / (1 << 24);
        int i = 0;
        for (; i + 1 < span.Length; i += 2)
        {
            ulong r = NextUInt64();
            span[i] = low + width * ((r >> 40) * unit);
            span[i + 1] = low + width * (((r >> 16) & 0xFFFFFF) * unit);
        }
        if (i < span.Length) span[i] = low + width * NextFloat();
    }

    /// <summary>Standard normal by Box-Muller; one of the pair is discarded for simplicity.</summary>
    public float NextGaussian()
    {
        double u1 = ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53)); // (0, 1], keeps log finite
        double u2 = (NextUInt64() >> 11) * (1.0 / (1UL << 53));
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
