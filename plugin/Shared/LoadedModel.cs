using WfVae.Model;
using WfVae.Runtime;

namespace WfVae.Plugin;

/// <summary>
/// A checkpoint loaded on a device the plugin created for it (one device per model, so separate handles
/// run concurrently); disposing frees both. Shared by the C ABI and the frei0r plugins.
/// </summary>
internal sealed class LoadedModel : IDisposable
{
    public VulkanDevice Device { get; }
    public WfVaeModel Model { get; }

    private LoadedModel(VulkanDevice device, WfVaeModel model) => (Device, Model) = (device, model);

    /// <summary>
    /// <paramref name="deviceSelector"/> null or blank: the runtime's default rule (WFVAE_DEVICE, then discrete
    /// &gt; integrated &gt; ... &gt; CPU); <paramref name="precision"/> null: the device's default (WFVAE_PRECISION honoured).
    /// </summary>
    /// <paramref name="log"/> receives the device's lines (cooperative-matrix self-check, validation, kernel choices).
    public static LoadedModel Open(string modelPath, string? deviceSelector, Precision? precision, Action<string> log)
    {
        // Fail before creating a Vulkan device: that takes a while and a wrong path is the common mistake.
        if (!File.Exists(modelPath) && !Directory.Exists(modelPath))
            throw new FileNotFoundException($"model '{modelPath}' does not exist (expected a .safetensors file or a folder with config.json)");
        var device = VulkanDevice.Create(new DeviceOptions { Selector = string.IsNullOrWhiteSpace(deviceSelector) ? null : deviceSelector, Log = log });
        try
        {
            return new LoadedModel(device, WfVaeModel.Load(modelPath, device, precision: precision));
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Model.Dispose();
        Device.Dispose();
    }
}
