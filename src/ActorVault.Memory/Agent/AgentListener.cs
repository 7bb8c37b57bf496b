using System.Globalization;
using System.Runtime.InteropServices;
using ActorVault.Memory;
using ActorVault.Memory.Interop;

namespace ActorVault.Agent;

/// <summary>
/// The standalone host's listening socket: <c>0600</c>, in a <c>0700</c> directory of this user, guarded
/// by a lock file (<c>flock</c>) held for the host's lifetime — so a second host never steals a live
/// socket, and a socket left by a host that died is known to be stale and replaced. One thread accepts;
/// each connection's peer is checked with <c>SO_PEERCRED</c> (this uid only; root only when allowed)
/// before a byte is read, then handed to <see cref="Accepted"/>.
/// </summary>
internal sealed unsafe class AgentListener : IDisposable
{
    private readonly int _listener;
    private readonly int _lock;
    private readonly bool _allowRoot;
    private readonly Thread _acceptor;
    private int _disposed;

    private AgentListener(string path, int listener, int lockFd, bool allowRoot, Action<AgentSocket, int> accepted, Action<string> refused)
    {
        SocketPath = path;
        _listener = listener;
        _lock = lockFd;
        _allowRoot = allowRoot;
        Accepted = accepted;
        Refused = refused;
        _acceptor = new Thread(AcceptLoop) { IsBackground = true, Name = "actorvault-agent-accept" };
    }

    public string SocketPath { get; }

    /// <summary>A checked connection: socket and peer pid.</summary>
    public Action<AgentSocket, int> Accepted { get; }

    /// <summary>A refused connection (another uid), already closed; rate-limited by the caller.</summary>
    public Action<string> Refused { get; }

    /// <summary>
    /// Takes the lock, replaces a stale socket, binds and listens. Throws <see cref="IOException"/>
    /// when another host holds the lock or the directory is not private.
    /// </summary>
    public static AgentListener Start(string socketPath, bool allowRoot, Action<AgentSocket, int> accepted, Action<string> refused)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(socketPath)) ?? "/";
        if (AgentPaths.DirectoryProblem(directory) is { } problem)
        {
            throw new IOException($"Refusing to serve on '{socketPath}': {problem}.");
        }

        string lockPath = socketPath + ".lock";
        int lockFd = Libc.open(lockPath, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0x180);
        if (lockFd < 0)
        {
            throw new IOException($"Cannot open the host's lock file '{lockPath}': {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        int listener = -1;
        try
        {
            if (Libc.flock(lockFd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
            {
                throw new IOException($"Another actorvault host serves '{socketPath}'; stop it with 'actorvault stop' or pass --socket elsewhere.");
            }

            // We hold the lock: whatever is at the path was left by a host that died.
            FileOwnership stale = SecretFiles.Inspect(socketPath);
            if (stale.Exists)
            {
                if (stale.IsDirectory)
                {
                    throw new IOException($"'{socketPath}' is a directory; refusing to replace it.");
                }

                _ = Libc.unlink(socketPath);
            }

            listener = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            byte* address = stackalloc byte[2 + Libc.UnixPathMax];
            if (listener < 0 || !Libc.TryUnixAddress(socketPath, address, out uint length))
            {
                throw new IOException($"Cannot make a socket at '{socketPath}' (the path must be under {Libc.UnixPathMax} bytes).");
            }

            // The directory is 0700 already; the socket itself is 0600 as well (fchmod before bind has no
            // effect on a socket's inode, so the umask is narrowed around bind).
            int previous = Libc.umask(0x7F);
            int bound = Libc.bind(listener, address, length);
            int errno = Marshal.GetLastPInvokeError();
            _ = Libc.umask(previous);
            if (bound != 0 || Libc.listen(listener, 512) != 0)
            {
                throw new IOException($"Cannot listen on '{socketPath}': {Libc.Describe(bound != 0 ? errno : Marshal.GetLastPInvokeError())}.");
            }

            var result = new AgentListener(socketPath, listener, lockFd, allowRoot, accepted, refused);
            result._acceptor.Start();
            return result;
        }
        catch
        {
            if (listener >= 0)
            {
                _ = Libc.close(listener);
            }

            _ = Libc.close(lockFd);
            throw;
        }
    }

    /// <summary>Stops accepting and removes the socket (only while still holding the lock: never another host's).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _ = Libc.unlink(SocketPath);
        _ = Libc.shutdown(_listener, Libc.SHUT_RDWR);
        _ = _acceptor.Join(TimeSpan.FromSeconds(5));
        _ = Libc.close(_listener);
        _ = Libc.unlink(SocketPath + ".lock");
        _ = Libc.close(_lock);
    }

    private void AcceptLoop()
    {
        while (Volatile.Read(ref _disposed) == 0)
        {
            int fd = Libc.accept4(_listener, null, null, Libc.SOCK_CLOEXEC);
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is Libc.EINTR or Libc.EAGAIN or Libc.ECONNRESET || errno == 103 /* ECONNABORTED */)
                {
                    continue;
                }

                if (errno is 24 or 23 /* EMFILE, ENFILE */)
                {
                    Refused($"cannot accept: {Libc.Describe(errno)}");
                    Thread.Sleep(100);
                    continue;
                }

                return;
            }

            AgentSocket socket = AgentSocket.Adopt(fd);
            (int pid, uint uid) = socket.PeerCredentials();
            if (uid != SecretFiles.CurrentUserId && !(uid == 0 && _allowRoot))
            {
                socket.Dispose();
                Refused(string.Create(CultureInfo.InvariantCulture, $"refused a connection from pid {pid} (uid {uid}): only uid {SecretFiles.CurrentUserId}{(_allowRoot ? " and root" : string.Empty)} may connect"));
                continue;
            }

            Accepted(socket, pid);
        }
    }
}
