using Xunit;

namespace ActorVault.Testing;

/// <summary>A fact that needs root (memory scans, dropping to another user). Elsewhere it is skipped and says why.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    /// <summary>Skips with <see cref="MemoryScanner.SkipReason"/> unless running as root.</summary>
    public RootFactAttribute()
    {
        if (!MemoryScanner.CanScan)
        {
            Skip = MemoryScanner.SkipReason;
        }
    }
}

/// <summary>A theory that needs root. Elsewhere it is skipped and says why.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    /// <summary>Skips with <see cref="MemoryScanner.SkipReason"/> unless running as root.</summary>
    public RootTheoryAttribute()
    {
        if (!MemoryScanner.CanScan)
        {
            Skip = MemoryScanner.SkipReason;
        }
    }
}
