namespace ActorVault.Memory.Interop;

/// <summary>glibc <c>struct termios</c> layout (60 bytes on Linux x86_64 and arm64).</summary>
internal static class Termios
{
    internal const int Size = 60;
    internal const int LFlagOffset = 12;
    internal const int CcOffset = 17;
    internal const int VTIME = 5;
    internal const int VMIN = 6;

    internal const uint ISIG = 0x1;
    internal const uint ICANON = 0x2;
    internal const uint ECHO = 0x8;
    internal const uint ECHOE = 0x10;
    internal const uint ECHOK = 0x20;
    internal const uint ECHONL = 0x40;

    internal const int TCSANOW = 0;
    internal const int TCSAFLUSH = 2;
}
