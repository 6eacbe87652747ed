namespace WfVae.Tests.Reference;

/// <summary>
/// The CPU twin of shaders/posterior.comp's generator: Philox4x32-10 keyed by the seed, counter (x, y, channel,
/// absolute frame), two uniforms from the top 24 bits of two words, Box-Muller. In double: the reference for sampling.
/// </summary>
public static class CpuPhilox
{
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    /// <summary>Philox4x32-10 (Salmon et al. 2011): 10 rounds, key bumped by (W0, W1) between rounds.</summary>
    public static (uint, uint, uint, uint) Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int r = 0; r < 10; r++)
        {
            if (r > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>ε for (seed, absolute frame, channel, y, x) exactly as the shader documents it, in double.</summary>
    public static double Eps(ulong seed, int frame, int channel, int y, int x)
    {
        var (r0, r1, _, _) = Philox((uint)x, (uint)y, (uint)channel, (uint)frame, (uint)seed, (uint)(seed >> 32));
        double u1 = ((r0 >> 8) + 1) / 16777216.0, u2 = (r1 >> 8) / 16777216.0;
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>mean + exp(0.5·logvar)·ε per element, frames counted from <paramref name="firstFrame"/>.</summary>
    public static CpuTensor Sample(CpuTensor mean, CpuTensor logvar, ulong seed, int firstFrame = 0)
    {
        var s = new CpuTensor(mean.C, mean.T, mean.H, mean.W);
        for (int c = 0; c < mean.C; c++)
            for (int f = 0; f < mean.T; f++)
                for (int y = 0; y < mean.H; y++)
                    for (int x = 0; x < mean.W; x++)
                        s[c, f, y, x] = (float)(mean[c, f, y, x] + Math.Exp(0.5 * logvar[c, f, y, x]) * Eps(seed, firstFrame + f, c, y, x));
        return s;
    }
}
