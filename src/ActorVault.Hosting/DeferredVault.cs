using System.Security.Cryptography;
using ActorVault.Memory;

namespace ActorVault.Hosting;

/// <summary>
/// The <see cref="IVault"/> that DI hands out: safe to inject anywhere, at any time. The vault itself is
/// started by the application's actor system (<c>WithActorVault</c>), which may come up after the
/// consumer was constructed; until then <see cref="State"/> is <see cref="VaultState.Starting"/>, and a
/// call waits for the start (bounded by the start timeout) or fails with the start's own exception —
/// never crashes the host. A secret handed in before the start is moved into secret memory at once
/// (the caller's span is zeroed before the call returns, as always).
/// </summary>
internal sealed class DeferredVault : IVault
{
    private readonly ActorVaultHolder _holder;
    private readonly Lock _gate = new();
    private EventHandler<VaultStateChanged>? _stateChanged;
    private bool _forwarding;

    /// <summary>The holder of the vault that WithActorVault starts.</summary>
    internal ActorVaultHolder Holder => _holder;

    public DeferredVault(ActorVaultHolder holder)
    {
        _holder = holder;
        _ = holder.WhenStarted.ContinueWith(t => Forward(t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public VaultState State => _holder.WhenStarted.Status switch
    {
        TaskStatus.RanToCompletion => _holder.WhenStarted.Result.State,
        TaskStatus.Faulted or TaskStatus.Canceled => VaultState.Stopped,
        _ => VaultState.Starting,
    };

    public event EventHandler<VaultStateChanged>? StateChanged
    {
        add
        {
            lock (_gate)
            {
                _stateChanged += value;
            }
        }

        remove
        {
            lock (_gate)
            {
                _stateChanged -= value;
            }
        }
    }

    public async Task<T> WithSecretAsync<T>(string name, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).WithSecretAsync(name, callback, options, cancellationToken).ConfigureAwait(false);

    public async Task<int> ReadInPasswordAsync(string prompt = "Password: ", CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).ReadInPasswordAsync(prompt, cancellationToken).ConfigureAwait(false);

    public async Task<SecureHeapUsage> GenerateSecureKeypairAsync(int bits = 0, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).GenerateSecureKeypairAsync(bits, cancellationToken).ConfigureAwait(false);

    public async Task<SecureHeapUsage> VerifyExpectedAllocationAsync(CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).VerifyExpectedAllocationAsync(cancellationToken).ConfigureAwait(false);

    public async Task<bool> CheckSecureHeapEnabledAsync(CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).CheckSecureHeapEnabledAsync(cancellationToken).ConfigureAwait(false);

    public Task SetSecretAsync(string name, Span<byte> secret, CancellationToken cancellationToken = default)
    {
        if (_holder.WhenStarted.IsCompletedSuccessfully)
        {
            return _holder.WhenStarted.Result.SetSecretAsync(name, secret, cancellationToken);
        }

        // Not started yet: the bytes move into secret memory now, the caller's copy is zeroed now.
        SecretBuffer held;
        try
        {
            held = SecretMemory.CopyFrom(secret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }

        return SetLaterAsync(name, held, cancellationToken);
    }

    public async Task<int> ReadSecretAsync(string name, SecretSource source, int maxBytes = 4096, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).ReadSecretAsync(name, source, maxBytes, cancellationToken).ConfigureAwait(false);

    public async Task<bool> LockSecretAsync(string name, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).LockSecretAsync(name, cancellationToken).ConfigureAwait(false);

    public async Task<bool> RevokeLeaseAsync(Guid leaseId, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).RevokeLeaseAsync(leaseId, cancellationToken).ConfigureAwait(false);

    public async Task<int> RevokeAllLeasesAsync(string? name = null, CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).RevokeAllLeasesAsync(name, cancellationToken).ConfigureAwait(false);

    public async Task<VaultStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
        await (await VaultAsync(cancellationToken).ConfigureAwait(false)).GetStatusAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The application's actor system owns the vault (its CoordinatedShutdown stops it); this stops it early if it was started.</summary>
    public Task StopAsync(TimeSpan? grace = null) =>
        _holder.WhenStarted.IsCompletedSuccessfully ? _holder.WhenStarted.Result.StopAsync(grace) : Task.CompletedTask;

    /// <summary>Nothing to do: the container disposes this, the actor system stops the vault.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task SetLaterAsync(string name, SecretBuffer held, CancellationToken cancellationToken)
    {
        using (held)
        {
            VaultClient vault = await VaultAsync(cancellationToken).ConfigureAwait(false);
            await vault.SetSecretAsync(name, held, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The started vault; waits for the start, bounded by the start timeout.</summary>
    private async Task<VaultClient> VaultAsync(CancellationToken cancellationToken)
    {
        Task<VaultClient> started = _holder.WhenStarted;
        if (started.IsCompletedSuccessfully)
        {
            return started.Result;
        }

        try
        {
            return await started.WaitAsync(_holder.StartTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new VaultUnavailableException($"ActorVault did not start within {_holder.StartTimeout.TotalSeconds:0} s: is WithActorVault(…) configured on the application's actor system, and has the host started?", e);
        }
    }

    private void Forward(VaultClient client)
    {
        lock (_gate)
        {
            if (_forwarding)
            {
                return;
            }

            _forwarding = true;
        }

        client.StateChanged += (_, e) =>
        {
            EventHandler<VaultStateChanged>? handlers;
            lock (_gate)
            {
                handlers = _stateChanged;
            }

            handlers?.Invoke(this, e);
        };
    }
}
