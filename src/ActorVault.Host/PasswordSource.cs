using System.CommandLine;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.Host;

/// <summary>Where a command reads a secret from: the terminal (echo off), stdin, a descriptor, a file or a systemd credential.</summary>
internal sealed record SecretInput(SecretInput.Kinds Kind, int Descriptor = -1, string? Path = null, bool Confirm = false)
{
    public enum Kinds
    {
        Terminal,
        StandardInput,
        Descriptor,
        File,
        Credential,
    }

    /// <summary>Reads the secret here, straight into secret memory.</summary>
    public SecretBuffer Read(string prompt) => Kind switch
    {
        Kinds.Terminal => ReadTerminal(prompt),
        Kinds.StandardInput => SecretReaders.ReadFromStandardInput(),
        Kinds.Descriptor => SecretReaders.ReadFromInheritedDescriptor(Descriptor),
        Kinds.File => SecretReaders.ReadFromFile(Path!),
        _ => SecretReaders.ReadSystemdCredential(Path!),
    };

    private SecretBuffer ReadTerminal(string prompt)
    {
        SecretBuffer first = SecretReaders.ReadFromTerminal(new SecretReadOptions { Prompt = prompt });
        if (!Confirm)
        {
            return first;
        }

        using SecretBuffer again = SecretReaders.ReadFromTerminal(new SecretReadOptions { Prompt = "Again: " });
        if (!first.FixedTimeEquals(again))
        {
            first.Dispose();
            throw new SecretInputException(SecretInputError.Empty, "The two entries differ; nothing was set.");
        }

        return first;
    }
}

/// <summary>The password-source options shared by <c>serve</c> and <c>unlock</c>.</summary>
internal sealed class PasswordSource
{
    private readonly Option<bool> _stdin = new("--password-stdin") { Description = "Read the secret from standard input (a pipe or file)." };
    private readonly Option<int?> _fd = new("--password-fd") { Description = "Read the secret from inherited file descriptor N (3 or higher)." };
    private readonly Option<string?> _file = new("--password-file") { Description = "Read the secret from a file (the whole file; one trailing newline dropped)." };
    private readonly Option<string?> _credential = new("--password-credential") { Description = "Read the secret from systemd credential NAME ($CREDENTIALS_DIRECTORY)." };
    private readonly Option<bool> _confirm = new("--confirm") { Description = "On a terminal, ask twice." };

    public void AddTo(Command command)
    {
        command.Options.Add(_stdin);
        command.Options.Add(_fd);
        command.Options.Add(_file);
        command.Options.Add(_credential);
        command.Options.Add(_confirm);
        _fd.Validators.Add(r =>
        {
            if (Cli.ValueOrDefault<int?>(r) is < 3)
            {
                r.AddError("--password-fd must be 3 or higher (0–2 are the terminal's; use --password-stdin for stdin)");
            }
        });
        command.Validators.Add(r =>
        {
            // Which options were given (not their values: one that does not convert is reported on its own).
            int given = new Option[] { _stdin, _fd, _file, _credential }.Count(o => r.GetResult(o) is { Implicit: false });
            if (given > 1)
            {
                r.AddError("give at most one of --password-stdin, --password-fd, --password-file, --password-credential");
            }
        });
    }

    /// <summary>The chosen source: the terminal when none is given and stdin is a terminal, else stdin.</summary>
    public SecretInput From(ParseResult parse) =>
        parse.GetValue(_fd) is int fd ? new SecretInput(SecretInput.Kinds.Descriptor, fd)
        : parse.GetValue(_file) is string file ? new SecretInput(SecretInput.Kinds.File, Path: file)
        : parse.GetValue(_credential) is string credential ? new SecretInput(SecretInput.Kinds.Credential, Path: credential)
        : parse.GetValue(_stdin) || !SecretReaders.StandardInputIsTerminal ? new SecretInput(SecretInput.Kinds.StandardInput)
        : new SecretInput(SecretInput.Kinds.Terminal, Confirm: parse.GetValue(_confirm));
}
