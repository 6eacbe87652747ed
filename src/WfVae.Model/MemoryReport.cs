namespace WfVae.Model;

/// <summary>
/// Device memory of one stream session, in bytes. <see cref="PlannedActivationBytes"/> is the slab the arena
/// planned from tensor lifetimes; <see cref="LiveSetBytes"/> (the largest set of intermediates live at one
/// moment of a push) and the two largest tensors live together are lower bounds no placement can beat.
/// A struct: streams read it after every push, which allocates nothing in steady state.
/// </summary>
/// <param name="WeightBytes">The model's weights (shared by every session of the model).</param>
/// <param name="CacheBytes">The layers' causal caches and frame queues this stream holds between pushes.</param>
/// <param name="PlannedActivationBytes">The arena's slab: what a push that follows its plan needs for intermediates.</param>
/// <param name="PeakActivationBytes">The most the arena held during a push (slab plus unplanned spill buffers).</param>
/// <param name="LiveSetBytes">Largest sum of intermediates live at one moment of the largest planned push.</param>
/// <param name="LargestLiveBytes">The larger of the two largest intermediates live at the same moment.</param>
/// <param name="SecondLargestLiveBytes">The smaller of the two.</param>
/// <param name="Pushes">Pushes so far.</param>
/// <param name="PlannedPushes">Pushes whose every intermediate got its planned place (no spill, no new plan).</param>
/// <param name="ScratchBytes">Operator scratch held by the session's recorder (Winograd's transformed tiles, bounded per conv).</param>
public readonly record struct MemoryReport(
    long WeightBytes, long CacheBytes, long PlannedActivationBytes, long PeakActivationBytes,
    long LiveSetBytes, long LargestLiveBytes, long SecondLargestLiveBytes, int Pushes, int PlannedPushes, long ScratchBytes = 0)
{
    /// <summary>Weights + caches + scratch + the activation peak: the most this session needed on the device.</summary>
    public long PeakBytes => WeightBytes + CacheBytes + ScratchBytes + PeakActivationBytes;
    /// <summary>Weights + caches + scratch + the planned slab: what each planned push needs.</summary>
    public long PlannedBytes => WeightBytes + CacheBytes + ScratchBytes + PlannedActivationBytes;
}
