using System.Globalization;
using System.Net.Sockets;
using ActorVault.Memory;

namespace ActorVault.Client;

/// <summary>
/// The application's end of one vault child's rendezvous (see <see cref="Transport.LinkHandshake"/>):
/// a Unix stream socket bound in a fresh <c>0700</c> directory (another uid cannot even reach the
/// path), accepting exactly one connection — the child's, by the kernel's <c>SO_PEERCRED</c> — and
/// removed from the file system the moment that connection is accepted.
/// </summary>
internal sealed class VaultLinkListener : IDisposable
{
    /// <summary>Connections from other processes refused (each closed before a byte is read) before the rest are refused silently.</summary>
    private const int LoggedRefusals = 8;

    private readonly Socket _listener;
    private readonly DirectoryInfo _directory;
    private int _disposed;

    private VaultLinkListener(Socket listener, DirectoryInfo directory, string path)
    {
        _listener = listener;
        _directory = directory;
        SocketPath = path;
    }

    /// <summary>The path the child connects to (given to it on its command line: not a secret).</summary>
    public string SocketPath { get; }

    public static VaultLinkListener Create()
    {
        // mkdtemp: a new directory, mode 0700, that nobody else can have prepared.
        DirectoryInfo directory = Directory.CreateTempSubdirectory("actorvault-link-");
        string path = Path.Combine(directory.FullName, "s");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            FileOwnership owner = SecretFiles.Inspect(directory.FullName);
            if (!owner.IsDirectory || owner.IsSymbolicLink || owner.OwnerId != SecretFiles.CurrentUserId || owner.AccessibleByOthers)
            {
                throw new VaultStartupException($"The vault link directory '{directory.FullName}' is not a private directory of this user.");
            }

            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
            return new VaultLinkListener(listener, directory, path);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            TryDelete(directory);
            throw new VaultStartupException($"The vault link socket cannot be made in '{directory.FullName}': {e.Message}.");
        }
        catch
        {
            listener.Dispose();
            TryDelete(directory);
            throw;
        }
    }

    /// <summary>
    /// Waits for the connection of process <paramref name="pid"/> (same uid, not traced, and — when this
    /// process is not root — already non-dumpable, which the kernel shows as <c>/proc/PID/mem</c> owned
    /// by root). Every other connection is closed unread and reported to <paramref name="log"/>. The socket
    /// path is gone once this returns.
    /// </summary>
    public async Task<Socket> AcceptChildAsync(int pid, Action<string> log, CancellationToken cancellationToken)
    {
        int refused = 0;
        try
        {
            while (true)
            {
                Socket peer = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                string? problem;
                int peerPid;
                try
                {
                    (peerPid, int peerUid) = Transport.LinkHandshake.PeerCredentials(peer);
                    problem = peerPid != pid || peerUid != SecretFiles.CurrentUserId
                        ? string.Create(CultureInfo.InvariantCulture, $"refused a connection to the vault link socket from pid {peerPid} (uid {peerUid}): not the vault child {pid}")
                        : HardeningProblem(pid);
                }
                catch
                {
                    peer.Dispose();
                    throw;
                }

                if (problem is null)
                {
                    return peer;
                }

                peer.Dispose();
                if (peerPid == pid)
                {
                    throw new VaultStartupException($"the vault child {pid} {problem}; it was not given the bootstrap");
                }

                if (++refused <= LoggedRefusals)
                {
                    log($"(supervisor) audit: {problem}{(refused == LoggedRefusals ? " (further refusals are not logged)" : string.Empty)}");
                }
            }
        }
        finally
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _listener.Dispose();
            TryDelete(_directory);
        }
    }

    /// <summary>Why the child may not get the bootstrap, or null: a tracer, or (seen only by a non-root parent) still dumpable.</summary>
    private static string? HardeningProblem(int pid)
    {
        string status;
        try
        {
            status = File.ReadAllText($"/proc/{pid}/status");
        }
        catch (IOException e)
        {
            return $"cannot be inspected ({e.Message})";
        }

        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith("TracerPid:", StringComparison.Ordinal) && line["TracerPid:".Length..].Trim() != "0")
            {
                return $"is traced by pid {line["TracerPid:".Length..].Trim()}";
            }
        }

        // The kernel gives a non-dumpable process's /proc files (not its /proc/PID directory) to the
        // root of its user namespace (or the overflow uid where that is unmapped): not to us.
        if (SecretFiles.CurrentUserId != 0 && SecretFiles.Inspect($"/proc/{pid}/mem").OwnerId == SecretFiles.CurrentUserId)
        {
            return "is still dumpable (it must harden itself before it connects)";
        }

        return null;
    }

    private static void TryDelete(DirectoryInfo directory)
    {
        try
        {
            directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
