using System.Collections.Concurrent;
using Akka.Actor;
using Akka.TestKit;
using ActorVault.Client;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Tests;

/// <summary>The supervisor's state machine against a fake child process and a TestProbe playing the vault.</summary>
public sealed class VaultSupervisorSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly FakeLauncher _launcher = new();
    private readonly TestProbe _vault;
    private readonly IActorRef _vaultAddress;
    private readonly TestProbe _events;
    private readonly ClientSecretTracker _tracker = new();

    public VaultSupervisorSpecs()
        : base(SpecConfig.Client)
    {
        _vault = CreateTestProbe("vault");
        _vaultAddress = Sys.ActorOf(Props.Create(() => new Forwarder(_vault.Ref)), "vault");
        _events = CreateTestProbe("events");
        Sys.EventStream.Subscribe(_events.Ref, typeof(VaultStateChanged));
    }

    [Fact]
    public async Task Start_ReadyIdentifyHelloWelcome_BecomesLocked()
    {
        IActorRef supervisor = StartSupervisor();
        FakeProcess process = BringUp(supervisor).Process;

        VaultStateChanged locked = _events.ExpectMsg<VaultStateChanged>(Wait);
        Assert.Equal((VaultState.Starting, VaultState.Locked), (locked.Previous, locked.State));
        Assert.Contains("ready", locked.Reason, StringComparison.Ordinal);
        Snapshot snapshot = (await supervisor.Ask<Snapshot>(WhenStarted.Instance, Wait));
        Assert.Equal((VaultState.Locked, process.Pid), (snapshot.State, snapshot.VaultPid));
        Assert.Equal(32, _launcher.Bootstraps.Single()); // a 32-byte bootstrap secret, handed over and zeroed
    }

    [Fact]
    public void Requests_AreRelayedSealedInTheSession_RepliesAndFailuresReachTheCaller()
    {
        IActorRef supervisor = StartSupervisor();
        BringUp(supervisor);

        supervisor.Tell(new Request(new LockSecret(Guid.NewGuid(), "a")), TestActor);
        VaultEnvelope request = _vault.FishForMessage<VaultEnvelope>(e => e.Body is LockSecret, Wait);
        var lockSecret = (LockSecret)request.Body;
        _vault.Reply(new VaultEnvelope(request.Session, new SecretLocked(lockSecret.RequestId, "a", false)));
        Assert.False(ExpectMsg<SecretLocked>(Wait).Existed);

        supervisor.Tell(new Request(new LockSecret(Guid.NewGuid(), "missing")), TestActor);
        VaultEnvelope open = _vault.FishForMessage<VaultEnvelope>(e => e.Body is LockSecret, Wait);
        _vault.Reply(new VaultEnvelope(open.Session, new RequestFailed(((LockSecret)open.Body).RequestId, VaultErrorCode.SecretNotFound, "no secret 'missing'", 0)));
        var failure = ExpectMsg<Status.Failure>(Wait);
        Assert.Equal(SecretUnavailableReason.NeverSet, Assert.IsType<SecretUnavailableException>(failure.Cause).Reason);

        // A reply claiming another session is not believed.
        supervisor.Tell(new Request(new GetVaultStatus(Guid.NewGuid())), TestActor);
        VaultEnvelope status = _vault.FishForMessage<VaultEnvelope>(e => e.Body is GetVaultStatus, Wait);
        _vault.Reply(new VaultEnvelope(new SessionId(9, 9), new VaultStatusReply(((GetVaultStatus)status.Body).RequestId, 1, null!, null!, [])));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void SecretStored_MakesItUnlocked_KeystoreResetMakesItLocked()
    {
        IActorRef supervisor = StartSupervisor();
        SessionId session = BringUp(supervisor).Session;
        _events.FishForMessage(m => m is VaultStateChanged { State: VaultState.Locked }, Wait);

        supervisor.Tell(new Request(new ReadSecret(Guid.NewGuid(), "s", SecretSourceKind.File, "/f", -1, "", false, "", 64)), TestActor);
        VaultEnvelope read = _vault.FishForMessage<VaultEnvelope>(e => e.Body is ReadSecret, Wait);
        _vault.Reply(new VaultEnvelope(session, new SecretStored(((ReadSecret)read.Body).RequestId, "s", 3)));
        ExpectMsg<SecretStored>(Wait);
        Assert.Equal(VaultState.Unlocked, _events.FishForMessage<VaultStateChanged>(_ => true, Wait).State);

        _vault.Send(supervisor, new VaultEnvelope(session, new KeystoreReset("the keystore failed", new KeystoreInfo(2048, [], 0, 0, 0))));
        VaultStateChanged reset = _events.FishForMessage<VaultStateChanged>(_ => true, Wait);
        Assert.Equal(VaultState.Locked, reset.State);
        Assert.Contains("keystore reset", reset.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ChildDeath_FailsPendingWithSignal_ZeroesBuffers_RestartsLocked()
    {
        IActorRef supervisor = StartSupervisor();
        (FakeProcess first, SessionId session) = BringUp(supervisor);
        SecretBuffer leased = SecretMemory.CopyFrom("client copy"u8);
        _tracker.Track(leased);

        supervisor.Tell(new Request(new GetVaultStatus(Guid.NewGuid())), TestActor);
        _vault.FishForMessage<VaultEnvelope>(e => e.Body is GetVaultStatus, Wait);
        supervisor.Tell(new VaultProcessExited(first.Pid, 128 + 9));

        var failure = ExpectMsg<Status.Failure>(Wait);
        var unavailable = Assert.IsType<VaultUnavailableException>(failure.Cause);
        Assert.Contains("killed by signal 9 (SIGKILL)", unavailable.Message, StringComparison.Ordinal);
        Assert.True(leased.IsZeroed);
        Assert.False(SessionKeyRing.For(Sys).TryGet(session, out _), "the dead session's keys are zeroed and gone");
        Assert.Equal(VaultState.Restarting, _events.FishForMessage<VaultStateChanged>(e => e.State == VaultState.Restarting, Wait).State);

        (FakeProcess second, SessionId newSession) = BringUp(supervisor, launch: 2);
        Assert.NotEqual(session, newSession);
        VaultStateChanged back = _events.FishForMessage<VaultStateChanged>(e => e.State == VaultState.Locked, Wait);
        Assert.Equal((second.Pid, 1), (back.VaultPid, back.Restarts));
    }

    [Fact]
    public void RequestsWhileRestarting_FailFast()
    {
        IActorRef supervisor = StartSupervisor(minBackoff: TimeSpan.FromSeconds(30));
        FakeProcess process = BringUp(supervisor).Process;
        supervisor.Tell(new VaultProcessExited(process.Pid, 1));
        _events.FishForMessage(m => m is VaultStateChanged { State: VaultState.Restarting }, Wait);

        supervisor.Tell(new Request(new GetVaultStatus(Guid.NewGuid())), TestActor);
        var failure = ExpectMsg<Status.Failure>(Wait);
        Assert.Equal(VaultState.Restarting, Assert.IsType<VaultUnavailableException>(failure.Cause).State);
    }

    [Fact]
    public void CrashLoop_BeyondMaxRestarts_StopsForGood()
    {
        IActorRef supervisor = StartSupervisor(maxRestarts: 2);
        for (int launch = 1; launch <= 3; launch++)
        {
            FakeProcess process = BringUp(supervisor, launch).Process;
            supervisor.Tell(new VaultProcessExited(process.Pid, 134));
        }

        VaultStateChanged stopped = _events.FishForMessage<VaultStateChanged>(e => e.State == VaultState.Stopped, Wait);
        Assert.Contains("giving up", stopped.Reason, StringComparison.Ordinal);
        supervisor.Tell(new Request(new GetVaultStatus(Guid.NewGuid())), TestActor);
        Assert.IsType<VaultUnavailableException>(ExpectMsg<Status.Failure>(Wait).Cause);
        Assert.Equal(3, _launcher.Processes.Count);
    }

    [Fact]
    public async Task StartupFailures_GiveClearErrorsWithTheStderrTail()
    {
        _launcher.FailWith = new VaultStartupException("The vault executable '/x' does not exist.");
        IActorRef missing = StartSupervisor();
        var e1 = await Assert.ThrowsAsync<VaultStartupException>(() => missing.Ask<Snapshot>(WhenStarted.Instance, Wait));
        Assert.Contains("/x", e1.Message, StringComparison.Ordinal);

        _launcher.FailWith = null;
        IActorRef early = StartSupervisor(name: "early");
        FakeProcess process = _launcher.Next(Wait);
        early.Tell(new VaultProcessLog(process.Pid, "fatal: no libcrypto"));
        early.Tell(new VaultProcessExited(process.Pid, 2));
        var e2 = await Assert.ThrowsAsync<VaultStartupException>(() => early.Ask<Snapshot>(WhenStarted.Instance, Wait));
        Assert.Contains("exited with code 2", e2.Message, StringComparison.Ordinal);
        Assert.Contains("fatal: no libcrypto", e2.StandardErrorTail);

        IActorRef silent = StartSupervisor(name: "silent", startupTimeout: TimeSpan.FromMilliseconds(500));
        FakeProcess mute = _launcher.Next(Wait);
        var e3 = await Assert.ThrowsAsync<VaultStartupException>(() => silent.Ask<Snapshot>(WhenStarted.Instance, Wait));
        Assert.Contains("did not connect to its link socket and prove itself", e3.Message, StringComparison.Ordinal);
        Assert.True(mute.Killed);
    }

    [Fact]
    public void UnansweredHeartbeats_KillTheChild()
    {
        IActorRef supervisor = StartSupervisor(unresponsiveAfter: TimeSpan.FromMilliseconds(600));
        FakeProcess process = BringUp(supervisor).Process;
        _vault.FishForMessage(m => m is VaultEnvelope { Body: Ping }, Wait);
        AwaitCondition(() => process.Killed, Wait);
        supervisor.Tell(new VaultProcessExited(process.Pid, 128 + 9));
        VaultStateChanged restarting = _events.FishForMessage<VaultStateChanged>(e => e.State == VaultState.Restarting, Wait);
        Assert.Contains("no answer to heartbeats", restarting.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Stop_ClosesStdin_ThenKillsAfterGrace()
    {
        IActorRef supervisor = StartSupervisor();
        FakeProcess process = BringUp(supervisor).Process;
        supervisor.Tell(new Stop(TimeSpan.FromMilliseconds(300)), TestActor);
        AwaitCondition(() => process.InputClosed, Wait);
        AwaitCondition(() => process.Killed, Wait);
        supervisor.Tell(new VaultProcessExited(process.Pid, 128 + 9));
        Assert.Contains("SIGKILL", ExpectMsg<Stopped>(Wait).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnauthenticatedMessages_ToTheSupervisor_AreDroppedAndChangeNothing()
    {
        IActorRef supervisor = StartSupervisor();
        BringUp(supervisor);
        supervisor.Tell(new RejectedEnvelope("authentication failed", string.Empty));
        supervisor.Tell(new Refused("x"));
        supervisor.Tell(new VaultEnvelope(new SessionId(3, 4), new KeystoreReset("forged", new KeystoreInfo(0, [], 0, 0, 0))));
        Assert.Equal(VaultState.Locked, (await supervisor.Ask<Snapshot>(GetSnapshot.Instance, Wait)).State);
    }

    private IActorRef StartSupervisor(TimeSpan? minBackoff = null, int maxRestarts = 10, TimeSpan? startupTimeout = null, TimeSpan? unresponsiveAfter = null, string name = "supervisor")
    {
        var settings = new SupervisorSettings(
            "/unused", startupTimeout ?? TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(60),
            TimeSpan.FromMilliseconds(100), unresponsiveAfter ?? TimeSpan.FromSeconds(60),
            minBackoff ?? TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), 0.1, maxRestarts, TimeSpan.FromSeconds(60), 64, 2048, 32768);
        return Sys.ActorOf(VaultSupervisor.Props(settings, _launcher, _tracker), name);
    }

    /// <summary>Plays a vault coming up: READY with the probe's path, answer Identify (automatic), answer Hello.</summary>
    private (FakeProcess Process, SessionId Session) BringUp(IActorRef supervisor, int launch = 1)
    {
        FakeProcess process = _launcher.Next(Wait);
        Assert.Equal(launch, _launcher.Processes.Count);
        supervisor.Tell(new VaultProcessReady(process.Pid, _vaultAddress.Path.ToString()));
        VaultEnvelope hello = _vault.FishForMessage<VaultEnvelope>(e => e.Body is Hello, Wait);
        _vault.Reply(new VaultEnvelope(hello.Session, new Welcome(((Hello)hello.Body).RequestId, process.Pid, new KeystoreInfo(2048, [1, 2, 3], 1664, 32768, 0), new MemoryInfo("MemfdSecret", 4096, 0, true))));

        // The run tells the supervisor; a process event sent before that would find it still starting.
        AwaitCondition(() => supervisor.Ask<Snapshot>(GetSnapshot.Instance, Wait).Result is { State: VaultState.Locked or VaultState.Unlocked } s && s.VaultPid == process.Pid, Wait);
        return (process, hello.Session);
    }

    [Fact]
    public void ForgedIdentity_NamingAnotherActor_IsIgnored()
    {
        IActorRef supervisor = StartSupervisor();
        FakeProcess process = _launcher.Next(Wait);
        supervisor.Tell(new VaultProcessReady(process.Pid, _vaultAddress.Path.ToString()));

        // Someone on loopback answers first, naming itself; then the real vault's identity arrives.
        TestProbe mallory = CreateTestProbe("mallory");
        supervisor.Tell(new ActorIdentity(1L, mallory.Ref), mallory.Ref);
        VaultEnvelope hello = _vault.FishForMessage<VaultEnvelope>(e => e.Body is Hello, Wait);
        mallory.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.IsType<Hello>(hello.Body);
    }

    [Fact]
    public void Ready_WithAnAddressOffTheLinkSocketOrAnotherPath_FailsTheStart()
    {
        IActorRef supervisor = StartSupervisor();
        FakeProcess process = _launcher.Next(Wait);
        supervisor.Tell(new VaultProcessReady(process.Pid, "akka.tcp://actorvault@10.1.2.3:2552/user/vault"));
        AwaitCondition(() => process.Killed, Wait);
        supervisor.Tell(new VaultProcessExited(process.Pid, 137));
        var e = Assert.Throws<AggregateException>(() => supervisor.Ask<Snapshot>(WhenStarted.Instance, Wait).Wait(Wait)).InnerException;
        Assert.Contains("invalid guardian address", Assert.IsType<VaultStartupException>(e).Message, StringComparison.Ordinal);
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef target) => ReceiveAny(m => target.Forward(m));
    }

    private sealed class FakeLauncher : IVaultProcessLauncher
    {
        private readonly BlockingCollection<FakeProcess> _started = [];
        private int _nextPid = 40_000;

        public List<FakeProcess> Processes { get; } = [];

        public ConcurrentQueue<int> Bootstraps { get; } = new();

        public VaultStartupException? FailWith { get; set; }

        public IVaultProcess Launch(SupervisorSettings settings, SecretBuffer bootstrap, VaultEventSink notify)
        {
            if (FailWith is not null)
            {
                throw FailWith;
            }

            Bootstraps.Enqueue(bootstrap.Length);
            var process = new FakeProcess(Interlocked.Increment(ref _nextPid));
            lock (Processes)
            {
                Processes.Add(process);
            }

            _started.Add(process);
            return process;
        }

        public FakeProcess Next(TimeSpan timeout) =>
            _started.TryTake(out FakeProcess? p, timeout) ? p : throw new TimeoutException("the supervisor launched no vault process");
    }

    private sealed class FakeProcess(int pid) : IVaultProcess
    {
        private volatile bool _killed;
        private volatile bool _inputClosed;

        public int Pid { get; } = pid;

        public bool Killed => _killed;

        public bool InputClosed => _inputClosed;

        public void CloseInput() => _inputClosed = true;

        public void Terminate() => Terminated = true;

        public bool Terminated { get; private set; }

        public void Kill() => _killed = true;

        public void Dispose()
        {
        }
    }
}
