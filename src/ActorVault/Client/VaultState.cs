namespace ActorVault;

/// <summary>Where the vault child process is in its life, as the application sees it.</summary>
public enum VaultState
{
    /// <summary>The child process is being started (or restarted) and authenticated.</summary>
    Starting,

    /// <summary>The vault runs and holds no secret: secrets must be entered (again).</summary>
    Locked,

    /// <summary>The vault runs and holds at least one secret.</summary>
    Unlocked,

    /// <summary>The vault died and will be restarted after a backoff; it will come back locked.</summary>
    Restarting,

    /// <summary>The vault is stopped for good (disposed, startup failed, or too many restarts).</summary>
    Stopped,
}

/// <summary>
/// Published on the link system's event stream and raised as <see cref="VaultClient.StateChanged"/>
/// whenever the vault's state changes. <see cref="Reason"/> says why in words (an exit code, a signal,
/// "keystore reset", …); it never contains secret bytes.
/// </summary>
public sealed record VaultStateChanged(VaultState Previous, VaultState State, string Reason, int VaultPid, int Restarts);
