using WfVae.Runtime;
using WfVae.Tests.Reference;

namespace WfVae.Tests.Operators;

/// <summary>The shape of a tensor operand or output, [C][T][H][W].</summary>
internal readonly record struct Shape(int C, int T, int H, int W);

/// <summary>How the harness passes an input to the operator.</summary>
internal enum OperandKind
{
    /// <summary>A tensor in the precision under test (rounded to halves for fp16), a channel slice in the sliced layout.</summary>
    Activation,
    /// <summary>Values the case uploads itself, e.g. conv weights (rounded to the precision under test); never a view.</summary>
    Weights,
    /// <summary>A dense fp32 tensor in both precisions (norm affine vectors stay fp32).</summary>
    Fp32Param,
}

internal sealed record Operand(CpuTensor Value, OperandKind Kind = OperandKind.Activation);

/// <summary>
/// One entry of the operator table (in the style of ggml's test-backend-ops): the inputs, the operator recorded on
/// the device, its plain CPU reference on the same values, and the fp32 rel_err bound. The harness runs every case
/// in fp32 and fp16, on dense tensors and on channel slices of larger tensors (strided views), and checks the result
/// against the reference, the untouched neighbouring channels, the unchanged inputs and the validation layers.
/// </summary>
internal sealed record OpCase(string Name, IReadOnlyList<Operand> Inputs, IReadOnlyList<Shape> Outputs,
    Action<OpRun> Gpu, Func<IReadOnlyList<CpuTensor>, IReadOnlyList<CpuTensor>> Cpu, double Tolerance)
{
    /// <summary>The kernel variant forced on the device the case runs on (null: the device's own choice).</summary>
    public KernelVariant? Variant { get; init; }
    /// <summary>A copy or a single IEEE operation per element: the result must equal the reference bit for bit.</summary>
    public bool Exact { get; init; }
    /// <summary>Whether fp16 output values differ from fp32 ones (false for copies, whose halves stay halves).</summary>
    public bool Computes { get; init; } = true;
    /// <summary>The operator refuses fp16 (Winograd F(4x4,3x3)): the fp16 run must throw an ArgumentException naming fp16.</summary>
    public bool Fp32Only { get; init; }
    /// <summary>
    /// fp16 only: rel_err (of rms) an intermediate stored in halves may add beyond the final rounding, e.g. Winograd's
    /// transformed weights, which are computed from the half-valued weights and rounded to halves again.
    /// </summary>
    public double Fp16Intermediate { get; init; }

    public override string ToString() => Name;
}

/// <summary>What a case's device side sees: the recorder, the operand and output views, parameter values.</summary>
internal sealed class OpRun(VulkanDevice device, CommandRecorder rec, Precision precision, IReadOnlyList<GpuTensor?> inputs,
    IReadOnlyList<float[]> values, IReadOnlyList<GpuTensor> outputs, List<IDisposable> owned)
{
    public VulkanDevice Device => device;
    public CommandRecorder Rec => rec;
    public Precision Precision => precision;

    /// <summary>Input <paramref name="i"/> as a device tensor (a view in the sliced layout).</summary>
    public GpuTensor In(int i) => inputs[i] ?? throw new InvalidOperationException($"input {i} is not a device tensor");

    /// <summary>The values of input <paramref name="i"/> as the precision under test holds them (for weights).</summary>
    public float[] Values(int i) => values[i];

    public GpuTensor Out(int j) => outputs[j];

    /// <summary>Disposes <paramref name="x"/> when the case ends (after the submission).</summary>
    public T Own<T>(T x) where T : IDisposable
    {
        owned.Add(x);
        return x;
    }

    /// <summary>Scratch memory for operators that rent some (GroupNorm statistics).</summary>
    public TensorArena Arena() => Own(new TensorArena(device));
}

/// <summary>Runs <see cref="OpCase"/>s (see <see cref="OpTable"/>) and checks them.</summary>
internal static class OpHarness
{
    /// <summary>What one run of a case gave: outputs, and whether neighbours and inputs stayed as they were.</summary>
    public sealed record Result(IReadOnlyList<CpuTensor> Outputs, IReadOnlyList<CpuTensor> Expected, IReadOnlyList<string> Damage);

    /// <summary>
    /// Runs <paramref name="c"/> in <paramref name="p"/>, its inputs rounded as <paramref name="values"/> holds them
    /// (default: <paramref name="p"/>). Sliced: every activation is channels [1 + i % 2, …) of a tensor with sentinel
    /// channels on both sides, every output channels [2, …) of one; the sentinels and the inputs must be intact
    /// afterwards (reported in <see cref="Result.Damage"/>).
    /// </summary>
    public static Result Run(VulkanDevice d, OpCase c, Precision p, bool sliced, Precision? values = null)
    {
        var rounding = values ?? p;
        var inputValues = c.Inputs.Select(o => o.Kind == OperandKind.Fp32Param ? o.Value : o.Value.In(rounding)).ToList();
        return Run(d, c, p, sliced, inputValues);
    }

    private static Result Run(VulkanDevice d, OpCase c, Precision p, bool sliced, List<CpuTensor> values)
    {
        var owned = new List<IDisposable>();
        try
        {
            var owners = new List<(GpuTensor Owner, GpuTensor View, int Before)>();
            var inputs = new List<GpuTensor?>();
            for (int i = 0; i < c.Inputs.Count; i++)
            {
                var v = values[i];
                switch (c.Inputs[i].Kind)
                {
                    case OperandKind.Activation:
                        var (owner, view) = Place(d, v, sliced ? 1 + i % 2 : 0, sliced ? 2 : 0, p, owned);
                        owners.Add((owner, view, sliced ? 1 + i % 2 : 0));
                        inputs.Add(view);
                        break;
                    case OperandKind.Fp32Param:
                        inputs.Add(Track(owned, d.Upload(v.Data, v.Data.Length, 1, 1, 1)));
                        break;
                    default:
                        inputs.Add(null);
                        break;
                }
            }
            var inputsBefore = owners.Select(o => WaveTestTensors.Down(d, o.Owner)).ToList();
            var outputs = new List<(GpuTensor Owner, GpuTensor View)>();
            foreach (var s in c.Outputs)
            {
                var (owner, view) = WaveTestTensors.Padded(d, s.C, s.T, s.H, s.W, sliced ? 2 : 0, sliced ? 1 : 0, p);
                outputs.Add((Track(owned, owner), view));
            }
            using (var rec = d.BeginCommands())
            {
                c.Gpu(new OpRun(d, rec, p, inputs, values.Select(v => v.Data).ToList(), outputs.Select(o => o.View).ToList(), owned));
                rec.Submit();
            }
            var damage = new List<string>();
            for (int j = 0; j < outputs.Count; j++)
                if (!WaveTestTensors.OutsideUntouched(d, outputs[j].Owner, sliced ? 2 : 0, c.Outputs[j].C))
                    damage.Add($"output {j} was written outside its channels");
            for (int i = 0; i < owners.Count; i++)
                if (!WaveTestTensors.BitwiseEqual(WaveTestTensors.Down(d, owners[i].Owner), inputsBefore[i]))
                    damage.Add($"input {i} (or a channel next to it) was written");
            var got = outputs.Select(o => WaveTestTensors.Down(d, o.View)).ToList();
            return new Result(got, c.Cpu(values), damage);
        }
        finally
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    private static (GpuTensor Owner, GpuTensor View) Place(VulkanDevice d, CpuTensor v, int before, int after, Precision p, List<IDisposable> owned)
    {
        var (owner, view) = WaveTestTensors.UpStrided(d, v, before, after, p);
        return (Track(owned, owner), view);
    }

    private static T Track<T>(List<IDisposable> owned, T x) where T : IDisposable
    {
        owned.Add(x);
        return x;
    }

    /// <summary>
    /// Checks one precision's result: bit for bit for exact cases (the reference rounded as the precision stores it),
    /// else rel_err = max|a − e| / rms(e) within the case's bound, widened for fp16 by the one final rounding
    /// (<see cref="Fp16.Tolerance"/>). Returns the problems found (empty: pass).
    /// </summary>
    public static List<string> Check(OpCase c, Precision p, Result r)
    {
        var problems = new List<string>(r.Damage);
        for (int j = 0; j < r.Outputs.Count; j++)
        {
            var got = r.Outputs[j];
            var expected = r.Expected[j];
            if (!got.SameShape(expected))
            {
                problems.Add($"output {j}: shape {got.Shape}, reference {expected.Shape}");
                continue;
            }
            if (got.Data.Any(v => !float.IsFinite(v))) problems.Add($"output {j}: non-finite values");
            if (c.Exact)
            {
                if (!WaveTestTensors.BitwiseEqual(got, expected.In(p))) problems.Add($"output {j}: not bit-identical to the reference");
                continue;
            }
            double tol = Fp16.Tolerance(p, expected, c.Tolerance) + (p == Precision.Fp16 ? c.Fp16Intermediate : 0), err = CpuTensor.RelErr(got, expected);
            if (!(err <= tol)) problems.Add($"output {j}: rel_err {err:E2} > {tol:E2}");
        }
        return problems;
    }

    /// <summary>
    /// fp16 against fp32 on the same half-valued inputs (<paramref name="fp32"/> run with values rounded to halves): every value within one half rounding of the fp32 one
    /// (2⁻¹¹·|y32| + 2⁻²⁵, plus the fp32 bound·rms for two fp32 chains), and for computing cases most values differ
    /// from fp32 (an fp32 result is a half only by chance: if most agreed, the fp32 shader or an unrounded path ran).
    /// </summary>
    public static List<string> CheckFp16AgainstFp32(OpCase c, Result fp32, Result fp16)
    {
        var problems = new List<string>();
        for (int j = 0; j < fp32.Outputs.Count; j++)
        {
            var y32 = fp32.Outputs[j].Data;
            var y16 = fp16.Outputs[j].Data;
            double rms = Math.Sqrt(y32.Average(v => (double)v * v));
            int differ = 0;
            double worst = 0;
            for (int i = 0; i < y32.Length; i++)
            {
                if (y16[i] != y32[i]) differ++;
                double bound = Fp16.U * Math.Abs(y32[i]) + Math.Pow(2, -25) + (c.Tolerance + c.Fp16Intermediate) * rms;
                worst = Math.Max(worst, Math.Abs((double)y16[i] - y32[i]) / bound);
            }
            if (worst > 1) problems.Add($"output {j}: an fp16 value is {worst:F2}x the one-rounding bound away from fp32");
            if (c.Computes && differ <= y32.Length / 2) problems.Add($"output {j}: only {differ} of {y32.Length} fp16 values differ from fp32: did the fp16 kernel run?");
        }
        return problems;
    }
}
