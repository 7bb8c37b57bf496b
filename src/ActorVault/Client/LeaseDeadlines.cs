using System.Diagnostics;

namespace ActorVault.Client;

/// <summary>
/// The hard deadline of every client-side lease, on one dedicated thread of its own: not a
/// <see cref="Timer"/>, whose callbacks wait for a thread-pool thread — and a pool kept busy by
/// synchronous callbacks (the very leases that are due) would let their bytes live past the deadline.
/// The thread sleeps until the earliest deadline (or a new, earlier one), then ends every lease that is
/// due; a lease that ends earlier is simply skipped. Together with the clock check on every access
/// (<see cref="SecretLease.Bytes"/>), a deadline holds whatever the pool is doing.
/// </summary>
internal static class LeaseDeadlines
{
    private static readonly PriorityQueue<Entry, long> Due = new();
    private static readonly object Gate = new();
    private static Thread? _thread;
    private static long _sleepingUntil = long.MaxValue;
    private static int _purgeAt = 1024;

    /// <summary>Ends <paramref name="lease"/> at its deadline (a Stopwatch timestamp), unless it ended before.</summary>
    public static void Arm(SecretLease lease)
    {
        lock (Gate)
        {
            // Most leases end long before their deadline and leave the queue lazily: drop the ended
            // ones now and then, so the queue stays about as large as the number of live leases.
            if (Due.Count >= _purgeAt)
            {
                var live = new List<(Entry, long)>(Due.Count);
                while (Due.TryDequeue(out Entry? entry, out long at))
                {
                    if (entry.Lease.IsLive)
                    {
                        live.Add((entry, at));
                    }
                }

                Due.EnqueueRange(live);
                _purgeAt = Math.Max(1024, 2 * Due.Count);
            }

            Due.Enqueue(new Entry(lease), lease.DeadlineTimestamp);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "actorvault-lease-deadlines", Priority = ThreadPriority.AboveNormal };
                _thread.Start();
            }

            // Wake the thread only when this deadline is earlier than the one it sleeps until.
            if (lease.DeadlineTimestamp < _sleepingUntil)
            {
                Monitor.PulseAll(Gate);
            }
        }
    }

    private static void Run()
    {
        var due = new List<Entry>();
        while (true)
        {
            lock (Gate)
            {
                while (true)
                {
                    // Ended leases leave the queue lazily.
                    while (Due.TryPeek(out Entry? head, out _) && !head.Lease.IsLive)
                    {
                        Due.Dequeue();
                    }

                    if (!Due.TryPeek(out _, out long first))
                    {
                        _sleepingUntil = long.MaxValue;
                        Monitor.Wait(Gate);
                        continue;
                    }

                    long wait = (long)Math.Ceiling(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), first).TotalMilliseconds);
                    if (first <= Stopwatch.GetTimestamp())
                    {
                        _sleepingUntil = long.MinValue;
                        break;
                    }

                    _sleepingUntil = first;
                    Monitor.Wait(Gate, (int)Math.Clamp(wait, 1, int.MaxValue));
                }

                long now = Stopwatch.GetTimestamp();
                while (Due.TryPeek(out Entry? entry, out long at) && at <= now)
                {
                    due.Add(Due.Dequeue());
                }
            }

            // Every due lease's bytes first; then the callbacks on Ended, which run user code and may
            // be slow. (The lease runner audits the end when the callback is over.)
            foreach (Entry entry in due)
            {
                entry.Zeroed = entry.Lease.EndQuietly(LeaseEnd.Expired, "deadline reached");
            }

            foreach (Entry entry in due.Where(e => e.Zeroed))
            {
                entry.Lease.NotifyEnded();
            }

            due.Clear();
        }
    }

    private sealed record Entry(SecretLease Lease)
    {
        public bool Zeroed { get; set; }
    }
}
