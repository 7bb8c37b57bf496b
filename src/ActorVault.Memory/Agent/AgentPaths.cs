using System.Globalization;
using ActorVault.Memory;

namespace ActorVault.Agent;

/// <summary>
/// Where the standalone host's socket lives: <c>$XDG_RUNTIME_DIR/actorvault/agent.sock</c>, else
/// <c>/tmp/actorvault-UID/agent.sock</c>; clients take <c>$ACTORVAULT_SOCK</c> first. The directory must be
/// a real directory of this user that nobody else can enter (<c>0700</c>): that, not the protocol, is
/// what keeps other users from even reaching the socket.
/// </summary>
internal static class AgentPaths
{
    public const string SocketName = "agent.sock";

    /// <summary>The socket a client connects to: <c>$ACTORVAULT_SOCK</c>, else <see cref="DefaultSocket"/>.</summary>
    public static string ClientSocket(string? explicitPath = null)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return explicitPath;
        }

        string? fromEnvironment = Environment.GetEnvironmentVariable(AgentProtocol.SocketVariable);
        return !string.IsNullOrEmpty(fromEnvironment) ? fromEnvironment : DefaultSocket;
    }

    /// <summary>The per-user default, whether or not a host serves there.</summary>
    public static string DefaultSocket => Path.Combine(DefaultDirectory, SocketName);

    public static string DefaultDirectory
    {
        get
        {
            string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            return !string.IsNullOrEmpty(runtime) && Path.IsPathRooted(runtime)
                ? Path.Combine(runtime, "actorvault")
                : Path.Combine("/tmp", string.Create(CultureInfo.InvariantCulture, $"actorvault-{SecretFiles.CurrentUserId}"));
        }
    }

    /// <summary>
    /// Why <paramref name="directory"/> may not hold the socket (null when it may): it must be a directory,
    /// not a symbolic link, owned by this user, with no permission bits for group or others.
    /// </summary>
    public static string? DirectoryProblem(string directory)
    {
        FileOwnership dir = SecretFiles.Inspect(directory);
        return !dir.Exists ? $"'{directory}' does not exist"
            : dir.IsSymbolicLink ? $"'{directory}' is a symbolic link"
            : !dir.IsDirectory ? $"'{directory}' is not a directory"
            : dir.OwnerId != SecretFiles.CurrentUserId ? $"'{directory}' belongs to uid {dir.OwnerId}, not to this user ({SecretFiles.CurrentUserId})"
            : dir.AccessibleByOthers ? $"'{directory}' can be entered or changed by other users (it must be 0700)"
            : null;
    }

    /// <summary>
    /// Makes the directory for <paramref name="socketPath"/> (0700) when missing, and checks it. When the
    /// default <c>/tmp</c> directory is unusable (another user made it first, to block this one), a fresh
    /// private directory is made instead (mkdtemp) and its socket returned — clients then need
    /// <c>$ACTORVAULT_SOCK</c>. An explicit path is never replaced.
    /// </summary>
    public static string PrepareForServe(string socketPath, bool isDefault, out string? replacedBecause)
    {
        replacedBecause = null;
        string directory = Path.GetDirectoryName(Path.GetFullPath(socketPath)) ?? "/";
        if (!Directory.Exists(directory) && !File.Exists(directory))
        {
            try
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Checked below.
            }
        }

        string? problem = DirectoryProblem(directory);
        if (problem is null)
        {
            return socketPath;
        }

        if (!isDefault)
        {
            throw new IOException($"Refusing to serve on '{socketPath}': {problem}.");
        }

        replacedBecause = problem;
        DirectoryInfo fresh = Directory.CreateTempSubdirectory($"actorvault-{SecretFiles.CurrentUserId}-");
        return Path.Combine(fresh.FullName, SocketName);
    }
}
