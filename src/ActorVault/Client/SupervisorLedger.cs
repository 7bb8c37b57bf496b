namespace ActorVault.Client;

/// <summary>
/// What outlives one incarnation of <see cref="VaultSupervisor"/>: whether the vault ever started, the
/// restart history the backoff reads, the failure that restarted the actor, and the child started
/// before the actor existed (taken once).
/// </summary>
internal sealed class SupervisorLedger(PreLaunchedVault? preLaunched)
{
    private readonly Queue<long> _restartTimes = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private PreLaunchedVault? _preLaunched = preLaunched;

    public bool EverStarted { get; set; }

    public int Restarts { get; private set; }

    public string? Fault { get; set; }

    private int _runs;

    /// <summary>The number of the next run (names stay unique across incarnations).</summary>
    public int NextRun() => Interlocked.Increment(ref _runs);

    public PreLaunchedVault? TakePreLaunched() => Interlocked.Exchange(ref _preLaunched, null);

    /// <summary>Records a restart unless <c>max-restarts</c> already happened within <c>max-restarts-within</c>; <paramref name="count"/> is the restarts in the window.</summary>
    public bool TryRestart(SupervisorSettings settings, out int count)
    {
        long now = _clock.ElapsedMilliseconds;
        while (_restartTimes.Count > 0 && now - _restartTimes.Peek() > settings.MaxRestartsWithin.TotalMilliseconds)
        {
            _restartTimes.Dequeue();
        }

        count = _restartTimes.Count;
        if (count >= settings.MaxRestarts)
        {
            return false;
        }

        _restartTimes.Enqueue(now);
        Restarts++;
        count++;
        return true;
    }
}
