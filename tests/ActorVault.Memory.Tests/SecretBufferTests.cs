using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace ActorVault.Memory.Tests;

public sealed class SecretBufferTests
{
    private static readonly byte[] Sample = Encoding.UTF8.GetBytes("correct horse battery staple");

    [Fact]
    public void CopyFrom_Use_ReturnsTheSameBytes()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        Assert.Equal(Sample.Length, secret.Length);
        Assert.True(secret.Use(bytes => bytes.SequenceEqual(Sample)));
    }

    [Fact]
    public void Allocate_NewBuffer_IsZeroFilled()
    {
        using SecretBuffer secret = SecretMemory.Allocate(100);
        Assert.True(secret.Use(bytes => !bytes.ContainsAnyExcept((byte)0)));
    }

    [Fact]
    public void Write_WithState_ChangesTheBytes()
    {
        using SecretBuffer secret = SecretMemory.Allocate(4);
        secret.Write((byte)7, static (bytes, value) => bytes.Fill(value));
        Assert.Equal(28, secret.Use(0, static (bytes, _) => bytes[0] + bytes[1] + bytes[2] + bytes[3]));
    }

    [Fact]
    public void ToString_Always_ShowsOnlyMarkerAndLength()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        string text = secret.ToString();
        Assert.Equal($"SecretBuffer [REDACTED] ({Sample.Length} bytes)", text);
        Assert.DoesNotContain("horse", $"{secret}", StringComparison.Ordinal);
    }

    [Fact]
    public void DebuggerDisplay_IsRedacted_AndFieldsAreHidden()
    {
        var display = typeof(SecretBuffer).GetCustomAttribute<DebuggerDisplayAttribute>();
        Assert.NotNull(display);
        Assert.Equal("SecretBuffer [REDACTED]", display.Value);
        foreach (FieldInfo field in typeof(SecretBuffer).GetFields(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public))
        {
            Assert.Equal(DebuggerBrowsableState.Never, field.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State);
        }
    }

    [Fact]
    public void PublicSurface_HasNoConversionOrExportToManagedTypes()
    {
        Type[] forbidden = [typeof(string), typeof(char[]), typeof(byte[]), typeof(ReadOnlyMemory<byte>), typeof(Memory<byte>), typeof(ArraySegment<byte>)];
        MethodInfo[] methods = typeof(SecretBuffer).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static);
        Assert.DoesNotContain(methods, m => m.Name is "op_Implicit" or "op_Explicit");
        Assert.DoesNotContain(methods, m => m.Name != nameof(ToString) && forbidden.Contains(m.ReturnType));
        Assert.DoesNotContain(typeof(SecretBuffer).GetProperties(), p => forbidden.Contains(p.PropertyType));
    }

    [Fact]
    public void SystemTextJson_Serialize_RefusesClearly()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        var error = Assert.ThrowsAny<NotSupportedException>(() => System.Text.Json.JsonSerializer.Serialize(new { Password = secret }));
        Assert.Contains("cannot be serialized", Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void SystemTextJson_Deserialize_Refuses()
    {
        Assert.ThrowsAny<NotSupportedException>(() => System.Text.Json.JsonSerializer.Deserialize<SecretBuffer>("\"aGVsbG8=\""));
    }

    [Fact]
    public void Newtonsoft_Serialize_RefusesClearly()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        var error = Assert.Throws<SecretSerializationException>(() => Newtonsoft.Json.JsonConvert.SerializeObject(new { Password = secret }));
        Assert.Contains("SecretBuffer holds secret bytes and cannot be serialized", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Newtonsoft_Deserialize_Refuses()
    {
        Assert.Throws<SecretSerializationException>(() => Newtonsoft.Json.JsonConvert.DeserializeObject<SecretBuffer>("\"aGVsbG8=\""));
    }

    [Fact]
    public void Hyperion_WithRefusalFactory_RefusesClearly()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        var serializer = new Hyperion.Serializer(Hyperion.SerializerOptions.Default.WithSerializerFactory([SecretSerialization.HyperionRefusal]));
        using var stream = new MemoryStream();
        Exception error = Assert.ThrowsAny<Exception>(() => serializer.Serialize(secret, stream));
        Assert.Contains("cannot be serialized", Flatten(error), StringComparison.Ordinal);
        Assert.Equal(-1, stream.ToArray().AsSpan().IndexOf(Sample));
    }

    [Fact]
    public void Hyperion_Plain_StillFailsInsteadOfCopying()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        var serializer = new Hyperion.Serializer(Hyperion.SerializerOptions.Default);
        using var stream = new MemoryStream();
        Assert.ThrowsAny<Exception>(() => serializer.Serialize(secret, stream));
    }

    [Fact]
    public void Use_AfterDispose_ThrowsObjectDisposedWithClearMessage()
    {
        SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        secret.Dispose();
        var error = Assert.Throws<ObjectDisposedException>(() => secret.Use(_ => { }));
        Assert.Contains("disposed and its bytes zeroed", error.Message, StringComparison.Ordinal);
        Assert.True(secret.IsZeroed);
        Assert.Throws<ObjectDisposedException>(() => secret.FixedTimeEquals(Sample));
    }

    [Fact]
    public void Dispose_Twice_IsHarmless()
    {
        int before = SecretMemory.Status.LiveBuffers;
        SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        secret.Dispose();
        secret.Dispose();
        Assert.True(SecretMemory.Status.LiveBuffers <= before);
    }

    [Fact]
    public void Dispose_ZeroesTheSlotMemory()
    {
        // Read the slot through its raw address after release, with idle protection off in a private pool.
        var pool = new SecretMemoryPool(new SecretMemoryOptions { ProtectIdleSlots = false });
        SecretHandle handle = pool.Allocate(Sample.Length);
        var secret = new SecretBuffer(handle, Sample.Length);
        secret.Write(Sample, static (bytes, source) => source.CopyTo(bytes));
        nint address = secret.Address;
        unsafe
        {
            Assert.True(new ReadOnlySpan<byte>((void*)address, Sample.Length).SequenceEqual(Sample));
            secret.Dispose();
            Assert.False(new ReadOnlySpan<byte>((void*)address, Sample.Length).ContainsAnyExcept((byte)0));
        }
    }

    [Fact]
    public void Scope_CopiedAndBothDisposed_ReleasesOnce_AHoldKeepsReadingItsOwnSecret()
    {
        // A private pool with idle protection off: the released slot stays readable, so a wrong
        // release shows as the next secret (or zeros) under the hold instead of a fault.
        var pool = new SecretMemoryPool(new SecretMemoryOptions { ProtectIdleSlots = false });
        var first = new SecretBuffer(pool.Allocate(Sample.Length), Sample.Length);
        first.Write(Sample, static (bytes, source) => source.CopyTo(bytes));
        using SecretHold hold = first.Hold();
        SecretBuffer.Scope scope = first.Open();
        SecretBuffer.Scope copy = scope; // a struct: the copy is a second handle on the same scope
        scope.Dispose();
        copy.Dispose();
        first.Dispose();
        byte[] other = Encoding.UTF8.GetBytes("the next secret, same size!!");
        using var next = new SecretBuffer(pool.Allocate(other.Length), other.Length);
        next.Write(other, static (bytes, source) => source.CopyTo(bytes));

        Assert.True(hold.Bytes.SequenceEqual(Sample), "the hold must still see its own secret until it is released");
    }

    [Fact]
    public void AReleasedSlot_IsHandedOutLast_AStalePointerReadsZerosNotTheNextSecret()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions { ProtectIdleSlots = false });
        var first = new SecretBuffer(pool.Allocate(Sample.Length), Sample.Length);
        first.Write(Sample, static (bytes, source) => source.CopyTo(bytes));
        nint stale = first.Address;
        first.Dispose();
        using var next = new SecretBuffer(pool.Allocate(Sample.Length), Sample.Length);
        next.Write(Sample, static (bytes, source) => source.CopyTo(bytes));

        Assert.NotEqual(stale, next.Address);
        unsafe
        {
            Assert.False(new ReadOnlySpan<byte>((void*)stale, Sample.Length).ContainsAnyExcept((byte)0));
        }
    }

    [Fact]
    public void Dispose_WhileScopeOpen_DefersReleaseUntilScopeEnds()
    {
        SecretBuffer secret = SecretMemory.CopyFrom(Sample);
        SecretBuffer.Scope scope = secret.Open();
        secret.Dispose();
        Assert.True(scope.Bytes.SequenceEqual(Sample));
        scope.Dispose();
        Assert.Throws<ObjectDisposedException>(() => secret.Use(_ => { }));
    }

    [Fact]
    public void FixedTimeEquals_ComparesContent()
    {
        using SecretBuffer a = SecretMemory.CopyFrom(Sample);
        using SecretBuffer b = SecretMemory.CopyFrom(Sample);
        using SecretBuffer c = SecretMemory.CopyFrom(Encoding.UTF8.GetBytes("correct horse battery stapLe"));
        Assert.True(a.FixedTimeEquals(b));
        Assert.False(a.FixedTimeEquals(c));
        Assert.True(a.FixedTimeEquals(Sample));
        Assert.False(a.FixedTimeEquals(Sample.AsSpan(1)));
    }

    [Fact]
    public void CopyFrom_Empty_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => SecretMemory.CopyFrom(ReadOnlySpan<byte>.Empty));
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);
}

/// <summary>Tests that zero every buffer of the process run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(ProcessWideCollection), DisableParallelization = true)]
public sealed class ProcessWideCollection;

[Collection(nameof(ProcessWideCollection))]
public sealed class ZeroAllTests
{
    private static readonly byte[] Sample = Encoding.UTF8.GetBytes("correct horse battery staple");

    [Fact]
    public void ZeroAll_WipesLiveBuffers_AndLaterAccessNamesTheReason()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions());
        var secret = new SecretBuffer(pool.Allocate(Sample.Length), Sample.Length);
        secret.Write(Sample, static (bytes, source) => source.CopyTo(bytes));
        nint address = secret.Address;

        Assert.True(SecretMemory.ZeroAll("unit test") >= 1);
        unsafe
        {
            Assert.False(new ReadOnlySpan<byte>((void*)address, Sample.Length).ContainsAnyExcept((byte)0));
        }

        var error = Assert.Throws<ObjectDisposedException>(() => secret.Use(_ => { }));
        Assert.Contains("ZeroAll (unit test)", error.Message, StringComparison.Ordinal);
        Assert.True(secret.IsZeroed);
        Assert.Equal(0, pool.ZeroAllLive("again")); // idempotent
        secret.Dispose();
        Assert.Equal(0, pool.LiveBuffers);
    }
}
