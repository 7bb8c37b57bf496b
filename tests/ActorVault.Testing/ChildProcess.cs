using System.Diagnostics;
using System.Text;

namespace ActorVault.Testing;

/// <summary>
/// A real child process whose stdout and stderr are collected line by line, so a test can wait for a
/// marked line (READY …) or the exit, with generous timeouts and no fixed sleeps.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _changed = new(0);

    private ChildProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Add(e.Data, stderr: false);
        _process.ErrorDataReceived += (_, e) => Add(e.Data, stderr: true);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Default wait for events: generous, because the machine is shared and noisy.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary>The underlying process.</summary>
    public Process Process => _process;

    /// <summary>Its standard input (redirected).</summary>
    public StreamWriter StandardInput => _process.StandardInput;

    /// <summary>All stdout lines so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>Everything written to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with stdin, stdout and stderr redirected.</summary>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach ((string key, string? value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[key] = value;
        }

        return new ChildProcess(Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}."));
    }

    /// <summary>Waits for a stdout line starting with <paramref name="prefix"/>; throws with the output so far on timeout or exit.</summary>
    public string WaitForLine(string prefix, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            string? found = Lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            if (found is not null)
            {
                return found;
            }

            if (_process.HasExited)
            {
                _process.WaitForExit(); // drains the redirected streams
                found = Lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
                if (found is not null)
                {
                    return found;
                }
            }

            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || _process.HasExited)
            {
                throw new TimeoutException($"No line starting with '{prefix}' from pid {Pid} (exited: {_process.HasExited}).\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{StandardError}");
            }

            _changed.Wait(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>
    /// Waits for the <paramref name="index"/>-th (0-based) stdout line starting with <paramref name="prefix"/>.
    /// A new line starting with <paramref name="failPrefix"/> (after <paramref name="failSeen"/> of them) ends the wait with an exception.
    /// </summary>
    public string WaitForNthLine(string prefix, int index, TimeSpan? timeout = null, string? failPrefix = null, int failSeen = 0)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            IReadOnlyList<string> lines = Lines;
            string[] found = [.. lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal))];
            if (found.Length > index)
            {
                return found[index];
            }

            if (failPrefix is not null)
            {
                string[] failures = [.. lines.Where(l => l.StartsWith(failPrefix, StringComparison.Ordinal))];
                if (failures.Length > failSeen)
                {
                    throw new InvalidOperationException($"pid {Pid} answered '{failures[failSeen]}' while '{prefix}' was expected.\nstderr:\n{StandardError}");
                }
            }

            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || _process.HasExited)
            {
                _process.WaitForExit(1000);
                if (Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal)) > index)
                {
                    continue;
                }

                throw new TimeoutException($"No line #{index + 1} starting with '{prefix}' from pid {Pid} (exited: {_process.HasExited}).\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{StandardError}");
            }

            _changed.Wait(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>How many stdout lines so far start with <paramref name="prefix"/>.</summary>
    public int CountLines(string prefix) => Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>
    /// Waits until stderr contains <paramref name="text"/> (stdout and stderr are read independently,
    /// so a line on one says nothing about what the other has delivered yet).
    /// </summary>
    public string WaitForError(string text, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!StandardError.Contains(text, StringComparison.Ordinal))
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"pid {Pid} never wrote '{text}' to stderr.\nstderr:\n{StandardError}");
            }

            _changed.Wait(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }

        return StandardError;
    }

    /// <summary>Waits for the process to exit and returns its exit code (128 + signal for a signal death).</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? DefaultTimeout))
        {
            throw new TimeoutException($"pid {Pid} did not exit.\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{StandardError}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Kills the process if it still runs.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _changed.Dispose();
    }

    private void Add(string? line, bool stderr)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            if (stderr)
            {
                _stderr.AppendLine(line);
            }
            else
            {
                _lines.Add(line);
            }
        }

        _changed.Release();
    }
}
