using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Every shader family of the operator library: the list checked at start and documented in docs/architecture.md.</summary>
public static class OperatorShaders
{
    public static IReadOnlyList<ShaderFamily> All { get; } =
    [
        Conv.Shader, CooperativeConv.Shader, Norm.Shader, Attention.Shader, Haar.Shader, Resample.Shader,
        Posterior.Shader, Elementwise.Shader, PeakProbe.Shader,
        WinogradConv.InputShader, WinogradConv.GemmShader, WinogradConv.OutputShader,
    ];

    private static readonly Lazy<bool> Verified = new(() =>
    {
        foreach (var f in All) f.Verify();
        return true;
    });

    /// <summary>
    /// Loads every embedded module and checks it against its descriptor (once per process), so a C#/GLSL mismatch
    /// stops a model from loading with the shader named, instead of failing at its first dispatch.
    /// </summary>
    public static void Verify() => _ = Verified.Value;
}
