using ActorVault.Agent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Event;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Vault;

/// <summary>
/// Holds the vault's RSA keypair (made while the OpenSSL secure heap is initialized, so its private
/// numbers live there) and every named secret, sealed: AES-256-GCM under a per-secret data key that
/// stays in secret memory (nowhere else: an RSA-wrapped copy was kept once and never read, so it went).
/// The RSA key seals what travels to the vault; it never touches a stored secret. Opening a secret for a session is
/// one AES-GCM decrypt and one encrypt, no RSA operation. Any failure stops this actor; its PostStop
/// zeroes every data key and frees the RSA key, and the guardian starts a fresh, empty keystore.
/// </summary>
internal sealed class KeystoreActor : ReceiveActor
{
    private readonly SessionId _session;
    private readonly VaultSettings _settings;
    private readonly Dictionary<string, StoredSecret> _secrets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _locked = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef? _announceTo;
    private Task<RSA>? _initialKey;
    private RSA? _rsa;
    private byte[] _publicKey = [];
    private byte[] _fingerprint = [];

    public KeystoreActor(SessionId session, VaultSettings settings, IActorRef? announceTo, Task<RSA>? initialKey)
    {
        _initialKey = initialKey;
        _session = session;
        _settings = settings;
        _announceTo = announceTo;

        Receive<Routed>(r => Handle(r));
        Receive<OpenForLease>(m => OpenLease(m));
        Receive<StoreReadSecret>(m => StoreFromReader(m));
    }

    /// <summary>
    /// <paramref name="announceTo"/>: for a keystore that replaces a failed one, the application to tell
    /// (with the new public key) that the vault is empty again.
    /// </summary>
    public static Props Props(SessionId session, VaultSettings settings, IActorRef? announceTo = null, Task<RSA>? initialKey = null) =>
        Akka.Actor.Props.Create(() => new KeystoreActor(session, settings, announceTo, initialKey)).WithDispatcher("actorvault.blocking-dispatcher");

    protected override void PreStart()
    {
        // The first keystore takes the keypair that was made while the actor system started.
        GenerateKeypair(_settings.RsaBits, Interlocked.Exchange(ref _initialKey, null));
        _announceTo?.Tell(new VaultEnvelope(_session, new KeystoreReset("the keystore failed and was replaced; every secret was zeroed", Info())));
    }

    protected override void PostStop()
    {
        int count = _secrets.Count;
        foreach (StoredSecret secret in _secrets.Values)
        {
            secret.DataKey.Dispose();
        }

        _secrets.Clear();
        _rsa?.Dispose();
        _rsa = null;
        _log.Info("Keystore stopped: {0} data key(s) zeroed, RSA key freed.", count);
    }

    private void Handle(Routed routed)
    {
        IVaultReply reply;
        try
        {
            reply = Dispatch(routed);
        }
        catch (Exception e)
        {
            // Answer first, then fail: supervision stops this actor and its PostStop zeroes every data key.
            routed.ReplyTo.Tell(new VaultEnvelope(_session, new RequestFailed(routed.Request.RequestId, VaultErrorCode.KeystoreUnavailable, $"The vault's keystore failed ({e.GetType().Name}); it is replaced by an empty one and every secret was zeroed.", 0)));
            throw;
        }

        routed.ReplyTo.Tell(new VaultEnvelope(_session, reply));
    }

    private IVaultReply Dispatch(Routed routed) => routed.Request switch
        {
            Hello h => new Welcome(h.RequestId, Environment.ProcessId, Info(), VaultMemory.Info()),
            GetVaultStatus s => new VaultStatusReply(s.RequestId, Environment.ProcessId, Info(), VaultMemory.Info(), [.. _secrets.Keys.Order(StringComparer.Ordinal)]),
            GenerateKeypair g => Regenerate(g),
            GetSecureHeapReport r => HeapReport(r.RequestId),
            SetSecret s => Set(s),
            VerifySecret v => Verify(v),
            LockSecret l => Lock(l),
            _ => new RequestFailed(routed.Request.RequestId, VaultErrorCode.BadRequest, $"The keystore does not handle {routed.Request.GetType().Name}.", 0),
        };

    private void StoreFromReader(StoreReadSecret message)
    {
        IVaultReply reply;
        try
        {
            reply = Store(message.RequestId, message.Name, message.Secret);
        }
        catch (Exception e)
        {
            message.ReplyTo.Tell(new VaultEnvelope(_session, new RequestFailed(message.RequestId, VaultErrorCode.KeystoreUnavailable, $"The vault's keystore failed ({e.GetType().Name}); it is replaced by an empty one and every secret was zeroed.", 0)));
            throw;
        }
        finally
        {
            message.Secret.Dispose();
        }

        message.ReplyTo.Tell(new VaultEnvelope(_session, reply));
    }

    private KeystoreInfo Info()
    {
        SecureHeapStatus heap = OpenSslSecureHeap.Status();
        return new KeystoreInfo(_rsa?.KeySize ?? 0, _publicKey, heap.UsedBytes, heap.SizeBytes, _secrets.Count);
    }

    private SecureHeapReport HeapReport(Guid requestId)
    {
        SecureHeapStatus heap = OpenSslSecureHeap.Status();
        return new SecureHeapReport(requestId, heap.Initialized, heap.SizeBytes, heap.UsedBytes, _rsa?.KeySize ?? 0, heap.Initialized && heap.UsedBytes > 0 && _rsa is not null);
    }

    /// <summary>Makes an RSA keypair now (after the secure heap is initialized, so its private numbers live there).</summary>
    internal static RSA NewKeypair(int bits)
    {
        RSA rsa = RSA.Create(bits);
        try
        {
            // Exporting the public half forces OpenSSL to generate the key now, in the secure heap.
            _ = rsa.ExportSubjectPublicKeyInfo();
            return rsa;
        }
        catch
        {
            rsa.Dispose();
            throw;
        }
    }

    private void GenerateKeypair(int bits, Task<RSA>? ready = null)
    {
        var stopwatch = Stopwatch.StartNew();
        long before = OpenSslSecureHeap.Status().UsedBytes;
        RSA rsa = ready?.GetAwaiter().GetResult() ?? NewKeypair(bits);
        byte[] spki = rsa.ExportSubjectPublicKeyInfo();

        _rsa?.Dispose();
        _rsa = rsa;
        _publicKey = spki;
        _fingerprint = PublicKeySealing.Fingerprint(spki);
        long after = OpenSslSecureHeap.Status().UsedBytes;
        _log.Info("RSA-{0} keypair {1} in {2} ms; OpenSSL secure heap {3} -> {4} bytes.", rsa.KeySize, ready is null ? "generated" : "ready (made during startup)", stopwatch.ElapsedMilliseconds, before, after);
    }

    private IVaultReply Regenerate(GenerateKeypair request)
    {
        int bits = request.Bits == 0 ? _settings.RsaBits : request.Bits;
        if (!VaultSettings.SupportedRsaBits.Contains(bits))
        {
            return new RequestFailed(request.RequestId, VaultErrorCode.BadRequest, $"RSA key size {bits} is not supported (2048, 3072 or 4096).", 0);
        }

        GenerateKeypair(bits);
        return new KeypairGenerated(request.RequestId, Info());
    }

    private IVaultReply Set(SetSecret request)
    {
        if (Invalid(request.RequestId, request.Name) is { } invalid)
        {
            return invalid;
        }

        SecretBuffer plaintext;
        try
        {
            plaintext = PublicKeySealing.Open(_rsa!, _fingerprint, request.Payload, Labels.SetPurpose, request.Name, _settings.MaxSecretBytes);
        }
        catch (CryptographicException e)
        {
            _log.Warning("Audit: set-secret {0} refused: {1}", SecretNames.Describe(request.Name), e.Message);
            return new RequestFailed(request.RequestId, VaultErrorCode.SealedPayloadRejected, $"Secret {SecretNames.Describe(request.Name)} was not stored: {e.Message}", 0);
        }

        using (plaintext)
        {
            return Store(request.RequestId, request.Name, plaintext);
        }
    }

    private IVaultReply Store(Guid requestId, string name, SecretBuffer plaintext)
    {
        if (Invalid(requestId, name) is { } invalid)
        {
            return invalid;
        }

        if (!_secrets.ContainsKey(name) && _secrets.Count >= _settings.MaxSecrets)
        {
            return new RequestFailed(requestId, VaultErrorCode.BadRequest, $"The vault already holds {_secrets.Count} secrets (the maximum); lock one first.", 0);
        }

        if (plaintext.Length == 0 || plaintext.Length > _settings.MaxSecretBytes)
        {
            return new RequestFailed(requestId, VaultErrorCode.BadRequest, $"A secret is 1 to {_settings.MaxSecretBytes} bytes, not {plaintext.Length}.", 0);
        }

        SecretBuffer dataKey = Aead.NewKey();
        try
        {
            byte[] nonce, ciphertext, tag;
            using (SecretBuffer.Scope secret = plaintext.Open())
            {
                (nonce, ciphertext, tag) = Aead.Seal(dataKey, secret.Bytes, Labels.Stored(name));
            }

            if (_secrets.Remove(name, out StoredSecret? previous))
            {
                previous.DataKey.Dispose();
            }

            _secrets[name] = new StoredSecret(dataKey, nonce, ciphertext, tag);
            _locked.Remove(name);
            _log.Info("Audit: secret {0} stored ({1} bytes, sealed).", SecretNames.Describe(name), plaintext.Length);
            return new SecretStored(requestId, name, plaintext.Length);
        }
        catch
        {
            dataKey.Dispose();
            throw;
        }
    }

    private IVaultReply Verify(VerifySecret request)
    {
        if (Invalid(request.RequestId, request.Name) is { } invalid)
        {
            return invalid;
        }

        if (!_secrets.TryGetValue(request.Name, out StoredSecret? stored))
        {
            return Missing(request.RequestId, request.Name);
        }

        SecretBuffer candidate;
        try
        {
            candidate = PublicKeySealing.Open(_rsa!, _fingerprint, request.Candidate, Labels.VerifyPurpose, request.Name, _settings.MaxSecretBytes);
        }
        catch (CryptographicException e)
        {
            return new RequestFailed(request.RequestId, VaultErrorCode.SealedPayloadRejected, $"The candidate for {SecretNames.Describe(request.Name)} was refused: {e.Message}", 0);
        }

        using (candidate)
        using (SecretBuffer opened = Open(request.Name, stored))
        {
            bool matches = opened.FixedTimeEquals(candidate);
            _log.Info("Audit: secret {0} verified: {1}.", SecretNames.Describe(request.Name), matches ? "match" : "no match");
            return new SecretVerified(request.RequestId, request.Name, matches);
        }
    }

    private IVaultReply Lock(LockSecret request)
    {
        if (Invalid(request.RequestId, request.Name) is { } invalid)
        {
            return invalid;
        }

        bool existed = _secrets.Remove(request.Name, out StoredSecret? stored);
        stored?.DataKey.Dispose();
        _locked.Add(request.Name);
        _log.Info("Audit: secret {0} locked{1}.", SecretNames.Describe(request.Name), existed ? " (data key zeroed)" : " (was not set)");
        return new SecretLocked(request.RequestId, request.Name, existed);
    }

    /// <summary>The lease path: open the stored secret and seal it to the session, bound to the lease id; the answer goes back to the lease actor, which owns the lease.</summary>
    private void OpenLease(OpenForLease message)
    {
        IVaultReply reply;
        try
        {
            reply = SealForLease(message);
        }
        catch (Exception e)
        {
            // Answer first, then fail: supervision stops this actor and its PostStop zeroes every data key.
            Sender.Tell(new LeaseSealed(message.LeaseId, new RequestFailed(message.Request.RequestId, VaultErrorCode.KeystoreUnavailable, $"The vault's keystore failed ({e.GetType().Name}); it is replaced by an empty one and every secret was zeroed.", 0)));
            throw;
        }

        Sender.Tell(new LeaseSealed(message.LeaseId, reply));
    }

    private IVaultReply SealForLease(OpenForLease message)
    {
        AcquireLease request = message.Request;
        IVaultReply reply;
        if (!_secrets.TryGetValue(request.Name, out StoredSecret? stored))
        {
            reply = Missing(request.RequestId, request.Name);
        }
        else if (!SessionKeyRing.For(Context.System).TryGet(_session, out SessionKeys? keys))
        {
            reply = new RequestFailed(request.RequestId, VaultErrorCode.KeystoreUnavailable, "The session is closed.", 0);
        }
        else
        {
            (byte[] nonce, byte[] ciphertext, byte[] tag) = Seal(keys, Labels.Lease(request.Name, message.LeaseId), request.Name, stored);
            reply = new LeaseGranted(request.RequestId, message.LeaseId, request.Name, request.TtlMs, nonce, ciphertext, tag);
        }

        return reply;
    }

    internal static (byte[] Nonce, byte[] Ciphertext, byte[] Tag) Seal(SessionKeys keys, byte[] aad, string name, StoredSecret stored)
    {
        using SecretBuffer opened = Open(name, stored);
        using SecretBuffer.Scope plain = opened.Open();
        return Aead.Seal(keys.PayloadKey, plain.Bytes, aad);
    }

    internal static SecretBuffer Open(string name, StoredSecret stored) =>
        Aead.TryOpen(stored.DataKey, stored.Nonce, stored.Ciphertext, stored.Tag, Labels.Stored(name))
        ?? throw new CryptographicException($"Stored secret {SecretNames.Describe(name)} failed authentication; the keystore is corrupt.");



    private static RequestFailed? Invalid(Guid requestId, string name) =>
        SecretNames.IsValid(name)
            ? null
            : new RequestFailed(requestId, VaultErrorCode.BadRequest, $"Secret name {SecretNames.Describe(name)} is invalid: use 1–{SecretNames.MaxLength} characters of A–Z, a–z, 0–9, '.', '_', '-'.", 0);

    /// <summary>No secret of that name: locked (it was set, then dropped), or never set in this vault.</summary>
    private RequestFailed Missing(Guid requestId, string name) => _locked.Contains(name)
        ? new(requestId, VaultErrorCode.SecretLocked, $"Secret {SecretNames.Describe(name)} is locked; set it again before using it.", 0)
        : new(requestId, VaultErrorCode.SecretNotFound, $"The vault holds no secret {SecretNames.Describe(name)}: it was never set in this vault (a restarted vault starts empty).", 0);

    /// <summary>A sealed secret: only <see cref="DataKey"/> is secret, and it lives in secret memory.</summary>
    internal sealed record StoredSecret(SecretBuffer DataKey, byte[] Nonce, byte[] Ciphertext, byte[] Tag);
}

/// <summary>The lease actor asks the keystore to seal a secret for the lease it is about to grant; answered with <see cref="LeaseSealed"/> to the sender.</summary>
internal sealed record OpenForLease(AcquireLease Request, Guid LeaseId);

/// <summary>The keystore's answer: the grant (sealed to the session) or why not.</summary>
internal sealed record LeaseSealed(Guid LeaseId, IVaultReply Reply);

/// <summary>A request the guardian authenticated, passed to a child with where to answer.</summary>
internal sealed record Routed(IVaultRequest Request, IActorRef ReplyTo);

/// <summary>The reader hands a freshly read secret to the keystore; the keystore owns (and zeroes) it.</summary>
internal sealed record StoreReadSecret(Guid RequestId, string Name, SecretBuffer Secret, IActorRef ReplyTo);

internal static class VaultMemory
{
    public static MemoryInfo Info()
    {
        SecretMemoryStatus status = SecretMemory.Status;
        return new MemoryInfo(status.Backing.ToString(), status.LockedBytes, status.LiveBuffers, ProcessHardening.Status().IsHardened);
    }
}
