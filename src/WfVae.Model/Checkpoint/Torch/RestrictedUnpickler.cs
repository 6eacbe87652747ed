using System.Buffers.Binary;
using System.Text;

namespace WfVae.Model.Checkpoint.Torch;

/// <summary>A storage named by a persistent id: the zip entry <c>data/&lt;Key&gt;</c> of <see cref="Numel"/> elements.</summary>
public sealed record TorchStorage(string Key, SafetensorsDType DType, long Numel);

/// <summary>A tensor rebuilt by <c>torch._utils._rebuild_tensor_v2</c>: a strided view of a storage.</summary>
public sealed record TorchTensor(TorchStorage Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>An allowed global, kept as a marker until REDUCE or a persistent id uses it.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// Reads the <c>data.pkl</c> of a torch.save zip without running anything: a pickle machine that knows
/// only what a state dict is made of (dicts, ordered dicts, lists, tuples, strings, numbers, booleans,
/// None, storages by persistent id, tensor and parameter rebuilds), like torch.load(weights_only=True).
/// Every other opcode and every other global is refused by name, with its byte offset, before anything
/// is called: a pickle that would run <c>os.system</c> is a <see cref="CheckpointException"/>, not a command.
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>A state dict's pickle is kilobytes; this bounds what a hostile one can make us allocate.</summary>
    public const int MaxPickleBytes = 64 << 20;
    private const int MaxObjects = 4 << 20;

    private static readonly Dictionary<string, SafetensorsDType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = SafetensorsDType.F32,
        ["HalfStorage"] = SafetensorsDType.F16,
        ["BFloat16Storage"] = SafetensorsDType.BF16,
        ["DoubleStorage"] = SafetensorsDType.F64,
    };

    private static readonly HashSet<string> Callables = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
    };

    private readonly byte[] _data;
    private readonly string _source;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private int _position, _objects, _opcodeAt;

    private RestrictedUnpickler(byte[] data, string source) => (_data, _source) = (data, source);

    /// <summary>
    /// The object the pickle describes: <see cref="Dictionary{TKey,TValue}"/> (string keys, insertion
    /// order kept), <see cref="List{T}"/>, <c>object?[]</c> tuples, strings, longs, doubles, booleans,
    /// byte arrays, null, <see cref="TorchTensor"/>s.
    /// </summary>
    public static object? Load(byte[] data, string source)
    {
        if (data.Length > MaxPickleBytes)
            throw new CheckpointException($"{source}: the pickle is {data.Length} bytes, more than the {MaxPickleBytes} a state dict needs");
        return new RestrictedUnpickler(data, source).Run();
    }

    private object? Run()
    {
        while (true)
        {
            _opcodeAt = _position;
            byte op = U8();
            if (op == (byte)'.') return _stack.Count == 1 && _marks.Count == 0 ? _stack[0] : throw Bad($"STOP with {_stack.Count} objects on the stack");
            Step(op);
        }
    }

    private void Step(byte op)
    {
        switch (op)
        {
            case 0x80: U8(); break;                                   // PROTO
            case 0x95: Bytes(8); break;                               // FRAME: a size hint only
            case (byte)'(': _marks.Add(_stack.Count); break;          // MARK
            case (byte)'}': Push(new Dictionary<object, object?>()); break;
            case (byte)']': Push(new List<object?>()); break;
            case (byte)')': Push(Array.Empty<object?>()); break;
            case (byte)'t': Push(PopMark().ToArray()); break;        // TUPLE
            case 0x85: Push(new[] { Pop() }); break;                  // TUPLE1
            case 0x86: { var b = Pop(); Push(new[] { Pop(), b }); break; }
            case 0x87: { var c = Pop(); var b = Pop(); Push(new[] { Pop(), b, c }); break; }
            case (byte)'N': Push(null); break;
            case 0x88: Push(true); break;
            case 0x89: Push(false); break;
            case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break;
            case (byte)'K': Push((long)U8()); break;
            case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break;
            case 0x8A: Push(Long1()); break;
            case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;
            case (byte)'X': Push(Utf8(Length(4))); break;             // BINUNICODE
            case 0x8C: Push(Utf8(U8())); break;                      // SHORT_BINUNICODE
            case 0x8D: Push(Utf8(Length(8))); break;                 // BINUNICODE8
            case (byte)'T': Push(Encoding.Latin1.GetString(Bytes(Length(4)))); break; // BINSTRING (protocol 0-2 str)
            case (byte)'U': Push(Encoding.Latin1.GetString(Bytes(U8()))); break;
            case (byte)'B': Push(Bytes(Length(4)).ToArray()); break; // BINBYTES
            case (byte)'C': Push(Bytes(U8()).ToArray()); break;
            default: Step2(op); break;
        }
    }

    private void Step2(byte op)
    {
        switch (op)
        {
            case (byte)'q': _memo[U8()] = Peek(); break;                                              // BINPUT
            case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = Peek(); break; // LONG_BINPUT
            case 0x94: _memo[_memo.Count] = Peek(); break;                                            // MEMOIZE
            case (byte)'h': Push(Memo(U8())); break;                                                  // BINGET
            case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)))); break;     // LONG_BINGET
            case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v); break; }            // SETITEM
            case (byte)'u': SetItems(); break;
            case (byte)'a': { var v = Pop(); AsList(Peek()).Add(v); break; }                           // APPEND
            case (byte)'e': { var items = PopMark(); AsList(Peek()).AddRange(items); break; }         // APPENDS
            case (byte)'c': Push(Global(Line(), Line(), "GLOBAL")); break;
            case 0x93: { var name = Pop(); var module = Pop(); Push(Global(module as string, name as string, "STACK_GLOBAL")); break; }
            case (byte)'R': { var args = Pop(); Push(Reduce(Pop(), args)); break; }
            case (byte)'b': Build(); break;
            case (byte)'Q': Push(PersistentId(Pop())); break;                                         // BINPERSID
            default: throw Bad($"opcode 0x{op:X2} ({OpcodeName(op)}) is not allowed in a state dict");
        }
    }

    private object Global(string? module, string? name, string opcode)
    {
        if (module is null || name is null) throw Bad($"{opcode} with a module or name that is not a string");
        var full = $"{module}.{name}";
        bool storage = module == "torch" && StorageTypes.ContainsKey(name);
        if (!storage && !Callables.Contains(full))
            throw Bad($"refusing global '{full}' ({opcode}): only dicts, ordered dicts, strings, numbers and tensor storages and rebuilds may appear in a checkpoint");
        return new PickleGlobal(module, name);
    }

    private object? Reduce(object? callable, object? args)
    {
        if (callable is not PickleGlobal g || args is not object?[] a)
            throw Bad($"REDUCE of {Describe(callable)} with {Describe(args)}: only the allowed rebuild functions can be called");
        switch (g.ToString())
        {
            case "collections.OrderedDict" when a.Length == 0:
                return new Dictionary<object, object?>();
            case "torch._utils._rebuild_tensor_v2" when a.Length is 6 or 7:
            case "torch._utils._rebuild_tensor" when a.Length == 4:
                return Tensor(a[0], a[1], a[2], a[3]);
            case "torch._utils._rebuild_parameter" when a.Length is 3 && a[0] is TorchTensor t:
                return t;
            default:
                throw Bad($"REDUCE of '{g}' with {a.Length} arguments is not a state-dict rebuild");
        }
    }

    private TorchTensor Tensor(object? storage, object? offset, object? size, object? stride)
    {
        if (storage is not TorchStorage s || offset is not long o || size is not object?[] shape || stride is not object?[] strides
            || shape.Length != strides.Length || shape.Any(d => d is not long n || n < 0) || strides.Any(d => d is not long n || n < 0) || o < 0)
            throw Bad("a tensor rebuild with arguments that are not (storage, offset >= 0, shape, stride) of non-negative integers");
        return new TorchTensor(s, o, shape.Select(d => (long)d!).ToArray(), strides.Select(d => (long)d!).ToArray());
    }

    private TorchStorage PersistentId(object? pid)
    {
        if (pid is not object?[] { Length: 5 } p || p[0] is not "storage" || p[1] is not PickleGlobal type || p[2] is not string key
            || p[3] is not string || p[4] is not long numel || numel < 0 || !StorageTypes.TryGetValue(type.Name, out var dtype))
            throw Bad($"persistent id {Describe(pid)} is not ('storage', <float storage type>, key, location, numel)");
        return new TorchStorage(key, dtype, numel);
    }

    /// <summary>BUILD sets an object's state: only an ordered dict's attributes (torch's <c>_metadata</c>), which carry no weights.</summary>
    private void Build()
    {
        var state = Pop();
        if (Peek() is not Dictionary<object, object?> || state is not (Dictionary<object, object?> or null))
            throw Bad($"BUILD of {Describe(Peek())} with {Describe(state)}: only an ordered dict's metadata may be set");
    }

    private void SetItems()
    {
        var items = PopMark();
        if (items.Count % 2 != 0) throw Bad("SETITEMS with an odd number of items");
        for (int i = 0; i < items.Count; i += 2) SetItem(Peek(), items[i], items[i + 1]);
    }

    private void SetItem(object? target, object? key, object? value)
    {
        if (target is not Dictionary<object, object?> dict) throw Bad($"SETITEM on {Describe(target)}");
        if (key is not (string or long or bool)) throw Bad($"a dict key {Describe(key)}: keys must be strings or integers");
        dict[key] = value;
    }

    private List<object?> AsList(object? target) => target as List<object?> ?? throw Bad($"APPEND on {Describe(target)}");

    private object? Memo(long index) => _memo.TryGetValue(index, out var v) ? v : throw Bad($"memo entry {index} was never stored");

    private void Push(object? value)
    {
        if (++_objects > MaxObjects) throw Bad($"more than {MaxObjects} objects: not a state dict");
        _stack.Add(value);
    }

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Bad("the stack is empty");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count > (_marks.Count > 0 ? _marks[^1] : 0) ? _stack[^1] : throw Bad("the stack is empty");

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Bad("no MARK to pop to");
        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(at, _stack.Count - at);
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private byte U8() => _position < _data.Length ? _data[_position++] : throw Bad("the pickle ends without STOP");

    private ReadOnlySpan<byte> Bytes(long count)
    {
        if (count < 0 || count > _data.Length - _position) throw Bad($"a {count}-byte argument runs past the end of the pickle");
        var span = _data.AsSpan(_position, (int)count);
        _position += (int)count;
        return span;
    }

    private long Length(int bytes) => bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)) : (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8)), long.MaxValue);

    private string Utf8(long count)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Bytes(count)); }
        catch (DecoderFallbackException) { throw Bad("a string that is not UTF-8"); }
    }

    private long Long1()
    {
        int n = U8();
        if (n > 8) throw Bad($"a {n}-byte integer: larger than any size in a state dict");
        var b = Bytes(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
        return n is > 0 and < 8 && (b[n - 1] & 0x80) != 0 ? v - (1L << (8 * n)) : v; // two's complement, sign from the top byte
    }

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _position);
        if (end < 0 || end - _position > 256) throw Bad("a GLOBAL name without its newline");
        var text = Encoding.ASCII.GetString(_data, _position, end - _position);
        _position = end + 1;
        return text;
    }

    private static string Describe(object? v) => v switch
    {
        null => "None",
        string s => $"'{(s.Length > 40 ? s[..40] + "…" : s)}'",
        object?[] t => $"a {t.Length}-tuple",
        _ => v.GetType().Name,
    };

    private static string OpcodeName(byte op) => op switch
    {
        (byte)'i' => "INST", (byte)'o' => "OBJ", 0x81 => "NEWOBJ", 0x92 => "NEWOBJ_EX", (byte)'P' => "PERSID",
        (byte)'S' => "STRING", (byte)'V' => "UNICODE", (byte)'I' => "INT", (byte)'L' => "LONG", (byte)'F' => "FLOAT",
        (byte)'d' => "DICT", (byte)'l' => "LIST", (byte)'g' => "GET", (byte)'p' => "PUT", (byte)'0' => "POP",
        (byte)'1' => "POP_MARK", (byte)'2' => "DUP", 0x82 => "EXT1", 0x83 => "EXT2", 0x84 => "EXT4", 0x8B => "LONG4",
        0x8E => "BINBYTES8", 0x8F => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET", 0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
        _ => "unknown",
    };

    private CheckpointException Bad(string what) => new($"{_source}: {what} (at byte {_opcodeAt})");
}
