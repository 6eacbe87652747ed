namespace WfVae.Frei0r;

/// <summary>What makes this library wfvae_encode.so (see plugin/WfVae.Frei0r for the shared frei0r code).</summary>
internal static class PluginDefinition
{
    public static Frei0rDescription Description => EncodeEffect.Description;

    public static Frei0rEffect Create(int width, int height) => new EncodeEffect(width, height);
}
