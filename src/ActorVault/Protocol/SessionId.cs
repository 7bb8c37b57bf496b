using System.Globalization;

namespace ActorVault.Protocol;

/// <summary>
/// Names one application↔vault session (one vault child process run). Public: it is derived from the
/// bootstrap secret by a one-way function and only tells a session's keys apart; knowing it grants nothing.
/// </summary>
internal readonly record struct SessionId(ulong High, ulong Low)
{
    public const int Size = 16;

    public static SessionId Read(ReadOnlySpan<byte> bytes) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    public void Write(Span<byte> destination)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{High:x16}{Low:x16}");
}
