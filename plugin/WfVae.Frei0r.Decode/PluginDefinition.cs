namespace WfVae.Frei0r;

/// <summary>What makes this library wfvae_decode.so (see plugin/WfVae.Frei0r for the shared frei0r code).</summary>
internal static class PluginDefinition
{
    public static Frei0rDescription Description => DecodeEffect.Description;

    public static Frei0rEffect Create(int width, int height) => new DecodeEffect(width, height);
}
