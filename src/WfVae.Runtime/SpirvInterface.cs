namespace WfVae.Runtime;

/// <summary>How a SPIR-V module declares one descriptor binding of set 0.</summary>
public enum SpirvBindingKind { StorageBuffer, TexelBuffer, Other }

/// <summary>
/// The interface of a compute module as its SPIR-V words state it: the byte size of the push-constant block, the
/// bindings of descriptor set 0 and their kinds, and the specialization-constant ids. Read from the module itself
/// so that a C# descriptor that disagrees with the GLSL is caught when the shader is loaded, not by the validation
/// layers (which tests run, but users do not).
/// </summary>
public sealed record SpirvInterface(int PushConstantBytes, IReadOnlyDictionary<int, SpirvBindingKind> Bindings, IReadOnlySet<int> SpecIds)
{
    private const uint Magic = 0x07230203;
    private const int OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeMatrix = 24, OpTypeImage = 25;
    private const int OpTypeArray = 28, OpTypeStruct = 30, OpTypePointer = 32;
    private const int OpConstant = 43, OpVariable = 59, OpDecorate = 71, OpMemberDecorate = 72;
    private const int DecSpecId = 1, DecBlock = 2, DecBufferBlock = 3, DecArrayStride = 6, DecBinding = 33, DecSet = 34, DecOffset = 35;
    private const int ClassUniformConstant = 0, ClassUniform = 2, ClassPushConstant = 9, ClassStorageBuffer = 12;
    private const int DimBuffer = 5;

    /// <summary>Parses the words of a module; throws <see cref="InvalidDataException"/> on a malformed one.</summary>
    public static SpirvInterface Parse(ReadOnlySpan<byte> module)
    {
        if (module.Length < 20 || module.Length % 4 != 0)
            throw new InvalidDataException($"not a SPIR-V module ({module.Length} bytes)");
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(module);
        if (words[0] != Magic) throw new InvalidDataException("not a SPIR-V module (bad magic number)");
        var m = new Words();
        for (int i = 5; i < words.Length;)
        {
            int count = (int)(words[i] >> 16), op = (int)(words[i] & 0xFFFF);
            if (count == 0 || i + count > words.Length) throw new InvalidDataException($"truncated SPIR-V instruction at word {i}");
            m.Read(op, words.Slice(i + 1, count - 1));
            i += count;
        }
        return m.Interface();
    }

    /// <summary>The raw facts of a module that the interface is computed from.</summary>
    private sealed class Words
    {
        private readonly Dictionary<uint, uint[]> _types = new();          // id -> (opcode, operands...)
        private readonly Dictionary<uint, uint> _constants = new();
        private readonly Dictionary<uint, (uint Type, uint Class)> _pointers = new();
        private readonly List<(uint Id, uint PointerType, uint Class)> _variables = new();
        private readonly Dictionary<uint, uint> _binding = new(), _set = new(), _arrayStride = new();
        private readonly HashSet<uint> _block = new(), _bufferBlock = new();
        private readonly Dictionary<(uint, uint), uint> _memberOffset = new();
        private readonly HashSet<int> _specIds = new();

        public void Read(int op, ReadOnlySpan<uint> a)
        {
            switch (op)
            {
                case OpTypeInt or OpTypeFloat or OpTypeVector or OpTypeMatrix or OpTypeImage or OpTypeArray or OpTypeStruct:
                    _types[a[0]] = [(uint)op, .. a[1..]];
                    break;
                case OpTypePointer: _pointers[a[0]] = (a[2], a[1]); break;
                case OpConstant when a.Length >= 3: _constants[a[1]] = a[2]; break;
                case OpVariable: _variables.Add((a[1], a[0], a[2])); break;
                case OpDecorate: Decorate(a); break;
                case OpMemberDecorate when a[2] == DecOffset: _memberOffset[(a[0], a[1])] = a[3]; break;
            }
        }

        private void Decorate(ReadOnlySpan<uint> a)
        {
            switch ((int)a[1])
            {
                case DecSpecId: _specIds.Add((int)a[2]); break;
                case DecBlock: _block.Add(a[0]); break;
                case DecBufferBlock: _bufferBlock.Add(a[0]); break;
                case DecArrayStride: _arrayStride[a[0]] = a[2]; break;
                case DecBinding: _binding[a[0]] = a[2]; break;
                case DecSet: _set[a[0]] = a[2]; break;
            }
        }

        public SpirvInterface Interface()
        {
            int push = 0;
            var bindings = new Dictionary<int, SpirvBindingKind>();
            foreach (var (id, pointer, storage) in _variables)
            {
                if (!_pointers.TryGetValue(pointer, out var p)) continue;
                if (storage == ClassPushConstant) push = Math.Max(push, SizeOf(p.Type));
                if (!_binding.TryGetValue(id, out uint b)) continue;
                if (_set.GetValueOrDefault(id) != 0)
                    throw new InvalidDataException($"binding {b} is in descriptor set {_set[id]}; only set 0 is used");
                bindings[(int)b] = KindOf(p.Type, storage);
            }
            return new SpirvInterface(push, bindings, _specIds);
        }

        private SpirvBindingKind KindOf(uint type, uint storage)
        {
            if (storage == ClassStorageBuffer || (storage == ClassUniform && _bufferBlock.Contains(type))) return SpirvBindingKind.StorageBuffer;
            if (storage != ClassUniformConstant || !_types.TryGetValue(type, out var t)) return SpirvBindingKind.Other;
            // A uniform texel buffer: GLSL's textureBuffer, an image of Dim Buffer with Sampled = 1 read by OpImageFetch (not
            // samplerBuffer, whose sampled-image type SPIR-V deprecates for Dim Buffer: Mesa 25 warns about it).
            return t[0] == OpTypeImage && t[2] == DimBuffer && t[6] == 1 ? SpirvBindingKind.TexelBuffer : SpirvBindingKind.Other;
        }

        /// <summary>Bytes of a type as laid out in a block (scalars, vectors, matrices, sized arrays, structs).</summary>
        private int SizeOf(uint type)
        {
            if (!_types.TryGetValue(type, out var t)) throw new InvalidDataException($"push-constant member of unknown type %{type}");
            switch ((int)t[0])
            {
                case OpTypeInt or OpTypeFloat: return (int)t[1] / 8;
                case OpTypeVector or OpTypeMatrix: return (int)t[2] * SizeOf(t[1]);
                case OpTypeArray:
                    int length = (int)_constants.GetValueOrDefault(t[2]);
                    return length * (int)(_arrayStride.TryGetValue(type, out uint stride) ? stride : (uint)SizeOf(t[1]));
                case OpTypeStruct:
                    int end = 0;
                    for (int i = 1; i < t.Length; i++)
                        end = Math.Max(end, (int)_memberOffset.GetValueOrDefault((type, (uint)(i - 1))) + SizeOf(t[i]));
                    return end;
                default: throw new InvalidDataException($"push-constant member of unsupported type (opcode {t[0]})");
            }
        }
    }
}
