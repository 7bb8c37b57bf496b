using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Client;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Vault;

namespace ActorVault.Standalone;

/// <summary>
/// A short-lived client of the standalone host (<c>actorvault exec/status/unlock/lock/stop</c>): reads
/// the info file, opens its own session (a fresh id, keys derived from the client key, which is zeroed
/// at once), resolves <c>/user/host</c> and proves the key with a ping. Secrets arrive sealed to the
/// session and are opened straight into secret memory.
/// </summary>
internal sealed class HostConnection : IAsyncDisposable
{
    private readonly ActorSystem _system;
    private readonly IActorRef _host;
    private readonly SessionId _session;
    private readonly TimeSpan _timeout;

    private HostConnection(ActorSystem system, IActorRef host, SessionId session, TimeSpan timeout, int hostPid, string address)
    {
        _system = system;
        _host = host;
        _session = session;
        _timeout = timeout;
        HostPid = hostPid;
        Address = address;
    }

    public int HostPid { get; }

    /// <summary>True once the host answered a request with a refusal (as opposed to not answering).</summary>
    public bool IsRefusal { get; private set; }

    public string Address { get; }

    public static async Task<HostConnection> ConnectAsync(string infoPath, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        string address;
        int pid;
        SessionKeys keys;
        LinkTls? tls = null;
        using (HostInfo info = HostInfoFile.Read(infoPath))
        {
            address = info.Address;
            pid = info.HostPid;
            if (!Directory.Exists($"/proc/{pid}"))
            {
                throw new HostConnectionException($"The actorvault host (pid {pid}) named in '{infoPath}' is not running; start one with 'actorvault serve'.");
            }

            keys = SessionKeys.DeriveHostSession(info.ClientKey, SessionKeys.NewHostSessionId(DateTimeOffset.UtcNow));
            if (info.Tls is { } t)
            {
                try
                {
                    using (SecretBuffer.Scope key = t.ClientPrivateKey.Open())
                    {
                        tls = LinkTls.FromKey(key.Bytes, t.ClientCertificate);
                    }
                }
                catch (CryptographicException e)
                {
                    keys.Dispose();
                    throw new HostConnectionException($"'{infoPath}' has a tls-cert / tls-key that is not a certificate and its private key ({e.GetType().Name}).", e);
                }

                tls.Pin(t.HostDigest);
            }
        }

        ActorSystem system;
        try
        {
            Config config = ActorVaultConfig.ForHostClient(ConfigurationFactory.ParseString("akka.loglevel = OFF\nakka.stdout-loglevel = OFF"), tls is not null);
            system = tls is null
                ? ActorSystem.Create("actorvault-cli", config)
                : ActorSystem.Create("actorvault-cli", BootstrapSetup.Create().WithConfig(config).And(tls.Setup));
            SessionKeyRing.For(system).Add(keys);
        }
        catch
        {
            keys.Dispose();
            tls?.Dispose();
            throw;
        }

        if (tls is not null)
        {
            _ = system.WhenTerminated.ContinueWith(_ => tls.Dispose(), TaskScheduler.Default);
        }

        try
        {
            long correlation = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8));
            ActorIdentity identity;
            try
            {
                identity = await system.ActorSelection($"{address}/user/{HostGateway.Name}")
                    .Ask<ActorIdentity>(new Identify(correlation), timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                throw new HostConnectionException($"The actorvault host (pid {pid}) does not answer at {address} within {timeout.TotalSeconds:0} s.");
            }

            if (identity.Subject is null || identity.MessageId is not long id || id != correlation || identity.Subject.Path.Address.ToString() != address)
            {
                throw new HostConnectionException(tls is null
                    ? $"No actorvault host answers at {address}."
                    : $"No actorvault host answers at {address}: the TLS handshake failed (the host refused this client's certificate, or its own is not the one the info file pins).");
            }

            var connection = new HostConnection(system, identity.Subject, keys.Id, timeout, pid, address);
            _ = await connection.SendAsync<Pong>(new Ping(Guid.NewGuid(), 1), cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await system.Terminate().ConfigureAwait(false);
            throw;
        }
    }

    public Task<HostStatusReply> StatusAsync(CancellationToken cancellationToken = default) =>
        SendAsync<HostStatusReply>(new HostStatusRequest(Guid.NewGuid()), cancellationToken);

    /// <summary>Leases <paramref name="name"/>: the bytes arrive sealed to this session and are opened into a secret buffer the caller owns.</summary>
    public async Task<SecretBuffer> LeaseAsync(string name, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        LeaseGranted granted = await SendAsync<LeaseGranted>(new HostLease(Guid.NewGuid(), name, (long)ttl.TotalMilliseconds), cancellationToken).ConfigureAwait(false);
        if (granted.Name != name || !Aead.IsWellFormed(granted.Nonce, granted.Ciphertext, granted.Tag))
        {
            throw new VaultOperationException(VaultError.SealedPayloadRejected, $"The host's sealed lease of '{name}' is malformed; refused.");
        }

        return Aead.TryOpen(Keys().PayloadKey, granted.Nonce, granted.Ciphertext, granted.Tag, KeystoreActor.LeaseAad(name, granted.LeaseId))
            ?? throw new VaultOperationException(VaultError.SealedPayloadRejected, $"The host's sealed lease of '{name}' failed authentication; refused.");
    }

    /// <summary>Sets secret <paramref name="name"/> in the host's vault; <paramref name="secret"/> travels sealed to this session and is zeroed (disposed) here.</summary>
    public async Task<int> UnlockAsync(string name, SecretBuffer secret, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var request = Seal(name, secret);
        SecretStored stored = await SendAsync<SecretStored>(request, cancellationToken).ConfigureAwait(false);
        return stored.Length;
    }

    public async Task<bool> LockAsync(string name, CancellationToken cancellationToken = default) =>
        (await SendAsync<SecretLocked>(new LockSecret(Guid.NewGuid(), name), cancellationToken).ConfigureAwait(false)).Existed;

    /// <summary>Asks the host to stop; returns its pid.</summary>
    public async Task<int> StopHostAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<HostStopping>(new HostStop(Guid.NewGuid()), cancellationToken).ConfigureAwait(false)).HostPid;

    /// <summary>Says goodbye (the host zeroes the session's keys), zeroes them here, and stops the client system.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_system.WhenTerminated.IsCompleted)
        {
            return;
        }

        _host.Tell(new VaultEnvelope(_session, new HostBye(Guid.NewGuid())));
        await CoordinatedShutdown.Get(_system).Run(CoordinatedShutdown.ClrExitReason.Instance).ConfigureAwait(false);
        SessionKeyRing.For(_system).Clear();
    }

    private HostUnlock Seal(string name, SecretBuffer secret)
    {
        using (secret)
        {
            Guid requestId = Guid.NewGuid();
            using SecretBuffer.Scope plain = secret.Open();
            (byte[] nonce, byte[] ciphertext, byte[] tag) = Aead.Seal(Keys().PayloadKey, plain.Bytes, HostGateway.UnlockAad(name, requestId));
            return new HostUnlock(requestId, name, nonce, ciphertext, tag);
        }
    }

    private SessionKeys Keys() =>
        SessionKeyRing.For(_system).TryGet(_session, out SessionKeys? keys)
            ? keys
            : throw new ObjectDisposedException(nameof(HostConnection), "The connection to the host is closed.");

    private async Task<T> SendAsync<T>(IVaultRequest request, CancellationToken cancellationToken)
        where T : class, IVaultReply
    {
        object reply;
        try
        {
            reply = await _host.Ask<object>(new VaultEnvelope(_session, request), _timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw new HostConnectionException($"The actorvault host (pid {HostPid}) did not answer within {_timeout.TotalSeconds:0} s.");
        }

        IsRefusal = reply is Refused;
        return reply switch
        {
            VaultEnvelope { Body: T answer } envelope when envelope.Session == _session && answer.RequestId == request.RequestId => answer,
            VaultEnvelope { Body: RequestFailed failed } envelope when envelope.Session == _session && failed.RequestId == request.RequestId => throw VaultSupervisor.ToException(failed),
            Refused { Reason: "refused" } => throw new HostConnectionException("The actorvault host refused this client: the key in the info file is not the host's (a stale or foreign info file?)."),
            Refused refused => throw new HostConnectionException($"The actorvault host refused this client: {refused.Reason} (check the clock, or retry when fewer clients are connected)."),
            RejectedEnvelope rejected => throw new HostConnectionException($"The host's reply was refused here: {rejected.Reason}."),
            _ => throw new HostConnectionException($"The host answered {reply.GetType().Name}, not {typeof(T).Name}."),
        };
    }
}
