using System.IO.Pipes;
using System.Text;
using ActorVault.Memory.Readers;

namespace ActorVault.Memory.Tests;

public sealed class ReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actorvault-readers-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("s3cret\n", "s3cret")]
    [InlineData("s3cret\r\n", "s3cret")]
    [InlineData("s3cret", "s3cret")]
    [InlineData("s3cret\n\n", "s3cret\n")]
    [InlineData("pässwörd ✓\n", "pässwörd ✓")]
    public void ReadFromFile_DropsOneTrailingNewline(string content, string expected)
    {
        string path = Write(content);
        using SecretBuffer secret = SecretReaders.ReadFromFile(path);
        Assert.True(secret.FixedTimeEquals(Encoding.UTF8.GetBytes(expected)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void ReadFromFile_Empty_IsAnEmptyError(string content)
    {
        int live = SecretMemory.Status.LiveBuffers;
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFile(Write(content)));
        Assert.Equal(SecretInputError.Empty, error.Error);
        Assert.Contains("is empty", error.Message, StringComparison.Ordinal);
        Assert.True(SecretMemory.Status.LiveBuffers <= live);
    }

    [Fact]
    public void ReadFromFile_OverMaximum_IsTooLong()
    {
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFile(Write(new string('x', 17)), new SecretReadOptions { MaxBytes = 16 }));
        Assert.Equal(SecretInputError.TooLong, error.Error);
        Assert.Contains("maximum of 16 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromFile_AtMaximumWithNewline_IsAccepted()
    {
        using SecretBuffer secret = SecretReaders.ReadFromFile(Write(new string('x', 16) + "\r\n"), new SecretReadOptions { MaxBytes = 16 });
        Assert.Equal(16, secret.Length);
    }

    [Fact]
    public void ReadFromFile_DefaultMaximum_Is4KiB()
    {
        using SecretBuffer ok = SecretReaders.ReadFromFile(Write(new string('y', 4096)));
        Assert.Equal(4096, ok.Length);
        Assert.Equal(SecretInputError.TooLong, Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFile(Write(new string('y', 4097)))).Error);
    }

    [Fact]
    public void ReadFromFile_Missing_IsNotFound()
    {
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFile(Path.Combine(_dir, "nope")));
        Assert.Equal(SecretInputError.NotFound, error.Error);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromFile_ASymbolicLink_IsRefused_NotFollowed()
    {
        string target = Write("the real secret\n");
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, target);
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFile(link));
        Assert.Equal(SecretInputError.WrongSource, error.Error);
        Assert.Contains("is a symbolic link; it is not followed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadFromFile_AFifoWithNoWriter_IsRefusedAtOnce_NeverBlocks()
    {
        string fifo = Path.Combine(_dir, "fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        // Without O_NONBLOCK, open(2) would wait for a writer forever.
        var error = await Assert.ThrowsAsync<SecretInputException>(() => Task.Run(() => SecretReaders.ReadFromFile(fifo)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(SecretInputError.WrongSource, error.Error);
        Assert.Contains("is not a regular file (a FIFO)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromInheritedDescriptor_ADescriptorThisProcessOpened_IsRefused()
    {
        // What `--password-fd 9` met when 9 was the runtime's own /dev/urandom: a descriptor opened
        // here (close-on-exec), not one the parent handed over.
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        server.Write("not meant\n"u8);
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromInheritedDescriptor((int)client.SafePipeHandle.DangerousGetHandle()));
        Assert.Equal(SecretInputError.WrongSource, error.Error);
        Assert.Contains("was not handed to this process", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadFromFileDescriptor_WaitingOnAQuietPipe_EndsWhenCancelled_NothingKept()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        server.Write("partial"u8); // no end of input: the writer stays open, a plain read(2) would block forever
        int fd = (int)client.SafePipeHandle.DangerousGetHandle();
        using var cancel = new CancellationTokenSource();
        Task<SecretBuffer> read = Task.Run(() => SecretReaders.ReadFromFileDescriptor(fd, null, cancel.Token));
        cancel.CancelAfter(TimeSpan.FromMilliseconds(100));
        var error = await Assert.ThrowsAsync<SecretInputException>(() => read.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(SecretInputError.Interrupted, error.Error);
        Assert.Contains("was interrupted (cancelled)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromFileDescriptor_WithATokenAlreadyCancelled_IsInterrupted_AsWhenCancelledWhileWaiting()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFileDescriptor((int)client.SafePipeHandle.DangerousGetHandle(), null, new CancellationToken(canceled: true)));
        Assert.Equal(SecretInputError.Interrupted, error.Error);
    }

    [Fact]
    public void ReadFromInheritedDescriptor_NotOpen_IsDescriptorClosed()
    {
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromInheritedDescriptor(988));
        Assert.Equal(SecretInputError.DescriptorClosed, error.Error);
    }

    [Fact]
    public void ReadFromFileDescriptor_NotOpen_IsDescriptorClosed()
    {
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadFromFileDescriptor(987));
        Assert.Equal(SecretInputError.DescriptorClosed, error.Error);
        Assert.Contains("File descriptor 987 is not open", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromFileDescriptor_Pipe_ReadsToEndOfInput()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        server.Write("line one\nline two\n"u8);
        server.Close();
        using SecretBuffer secret = SecretReaders.ReadFromFileDescriptor((int)client.SafePipeHandle.DangerousGetHandle());
        Assert.True(secret.FixedTimeEquals("line one\nline two"u8));
    }

    [Fact]
    public void ReadFromFileDescriptor_StopAtNewline_LeavesTheRestUnread()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        server.Write("first\nsecond\n"u8);
        server.Close();
        int fd = (int)client.SafePipeHandle.DangerousGetHandle();
        using SecretBuffer first = SecretReaders.ReadFromFileDescriptor(fd, new SecretReadOptions { StopAtNewline = true });
        using SecretBuffer second = SecretReaders.ReadFromFileDescriptor(fd, new SecretReadOptions { StopAtNewline = true });
        Assert.True(first.FixedTimeEquals("first"u8));
        Assert.True(second.FixedTimeEquals("second"u8));
    }

    [Fact]
    public void ReadSystemdCredential_FromCredentialsDirectory()
    {
        File.WriteAllText(Path.Combine(_dir, "vault-password"), "from-systemd\n");
        using var env = new EnvironmentVariable("CREDENTIALS_DIRECTORY", _dir);
        using SecretBuffer secret = SecretReaders.ReadSystemdCredential("vault-password");
        Assert.True(secret.FixedTimeEquals("from-systemd"u8));
    }

    [Fact]
    public void ReadSystemdCredential_NoDirectory_SaysWhatToSet()
    {
        using var env = new EnvironmentVariable("CREDENTIALS_DIRECTORY", null);
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadSystemdCredential("vault-password"));
        Assert.Equal(SecretInputError.NotFound, error.Error);
        Assert.Contains("$CREDENTIALS_DIRECTORY is not set", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSystemdCredential_MissingName_IsNotFound()
    {
        using var env = new EnvironmentVariable("CREDENTIALS_DIRECTORY", _dir);
        var error = Assert.Throws<SecretInputException>(() => SecretReaders.ReadSystemdCredential("other"));
        Assert.Equal(SecretInputError.NotFound, error.Error);
        Assert.Contains("'other' is not in $CREDENTIALS_DIRECTORY", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../etc/shadow")]
    [InlineData("..")]
    public void ReadSystemdCredential_PathLikeName_IsRefused(string name)
    {
        Assert.Throws<ArgumentException>(() => SecretReaders.ReadSystemdCredential(name));
    }

    private string Write(string content)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }

    private sealed class EnvironmentVariable : IDisposable
    {
        private readonly string _name;
        private readonly string? _old;

        internal EnvironmentVariable(string name, string? value)
        {
            _name = name;
            _old = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }

        public void Dispose() => Environment.SetEnvironmentVariable(_name, _old);
    }
}
