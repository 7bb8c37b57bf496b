using Akka.Configuration;
using ActorVault.Client;
using ActorVault.Configuration;
using ActorVault.Vault;

namespace ActorVault.Tests;

public sealed class ConfigSpecs
{
    private static readonly Config Hostile = ConfigurationFactory.ParseString("""
        akka.remote.enabled-transports = ["akka.remote.dot-netty.tcp"]
        akka.remote.dot-netty.tcp.hostname = "0.0.0.0"
        akka.remote.dot-netty.tcp.port = 2552
        akka.remote.actorvault-link.transport-class = "Akka.Remote.Transport.DotNetty.TcpTransport, Akka.Remote"
        akka.remote.actorvault-link.maximum-frame-size = 64m
        akka.actor.serializers.akka-misc = "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote"
        """);

    [Fact]
    public void Link_And_Vault_UseOnlyTheSocketTransport_WhateverTheOverrides()
    {
        foreach (Config config in new[] { ActorVaultConfig.ForLink(Hostile), ActorVaultConfig.ForVault(Hostile) })
        {
            Assert.Equal(["akka.remote.actorvault-link"], config.GetStringList("akka.remote.enabled-transports"));
            Assert.Equal("ActorVault.Transport.LinkSocketTransport, ActorVault", config.GetString("akka.remote.actorvault-link.transport-class"));
            Assert.Equal(131072, config.GetByteSize("akka.remote.actorvault-link.maximum-frame-size"));
            Assert.True(config.GetBoolean("akka.remote.untrusted-mode"));
        }
    }

    [Fact]
    public void HostSettings_ComeFromTheReferenceFile_AndBadValuesAreClearErrors()
    {
        Standalone.HostSettings settings = Standalone.HostSettings.From(ActorVaultConfig.Load("actorvault-host.conf"));
        Assert.Equal(64, settings.MaxConnections);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.LeaseTtl);
        Assert.Equal(TimeSpan.FromMinutes(10), settings.MaxLeaseTtl);
        Config bad = ConfigurationFactory.ParseString("actorvault.host.lease-ttl = 1h").WithFallback(ActorVaultConfig.Load("actorvault-host.conf"));
        ConfigurationException e = Assert.Throws<ConfigurationException>(() => Standalone.HostSettings.From(bad));
        Assert.Contains("actorvault.host.lease-ttl", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WireFilter_IsTheReferenceForAkkaMisc_OnEverySystem()
    {
        foreach (Config config in new[] { ActorVaultConfig.Link, ActorVaultConfig.Vault })
        {
            Assert.Equal("ActorVault.Serialization.FilteringMiscMessageSerializer, ActorVault", config.GetString("akka.actor.serializers.akka-misc"));
            Assert.Equal("ActorVault.Serialization.RefusedSystemMessageSerializer, ActorVault", config.GetString("akka.actor.serializers.akka-system-msg"));
        }
    }

    [Fact]
    public void ReferenceFiles_AreEmbedded_AndAMissingOneIsAClearError()
    {
        Assert.Equal("vault", ActorVaultConfig.Vault.GetString("actorvault.link.role"));
        Assert.Equal("client", ActorVaultConfig.Link.GetString("actorvault.link.role"));
        Assert.Equal(["/user/vault"], ActorVaultConfig.Vault.GetStringList("akka.remote.trusted-selection-paths"));
        Assert.Empty(ActorVaultConfig.Link.GetStringList("akka.remote.trusted-selection-paths"));
        var e = Assert.Throws<ConfigurationException>(() => ActorVaultConfig.Load("nope.conf"));
        Assert.Contains("missing from the assembly", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_WriteOnlyWhatIsSet_OverTheReferenceDefaults()
    {
        SupervisorSettings defaults = SupervisorSettings.Create(ActorVaultConfig.Link);
        Assert.Equal(TimeSpan.FromMilliseconds(200), defaults.HeartbeatInterval);
        Assert.Equal(10, defaults.MaxRestarts);

        var options = new VaultClientOptions { MaxRestarts = 3, StartupTimeout = TimeSpan.FromSeconds(7), ExecutablePath = "/opt/a \"b\"/actorvault" };
        SupervisorSettings set = SupervisorSettings.Create(ActorVaultConfig.ForLink(options.ToConfig()));
        Assert.Equal((3, TimeSpan.FromSeconds(7), "/opt/a \"b\"/actorvault"), (set.MaxRestarts, set.StartupTimeout, set.Executable));
        Assert.Equal(defaults.HeartbeatInterval, set.HeartbeatInterval);
    }

    [Theory]
    [InlineData("actorvault.supervisor.rsa-bits = 1024")]
    [InlineData("actorvault.supervisor.secure-heap-bytes = 5000")]
    [InlineData("actorvault.supervisor.restart.random-factor = 2")]
    [InlineData("actorvault.supervisor.startup-timeout = 0s")]
    public void Supervisor_InvalidSettings_AreRefusedClearly(string hocon) =>
        Assert.Throws<ConfigurationException>(() => SupervisorSettings.Create(ActorVaultConfig.ForLink(ConfigurationFactory.ParseString(hocon))));

    [Fact]
    public void Vault_InvalidKeySize_IsRefusedClearly() =>
        Assert.Throws<ConfigurationException>(() => VaultSettings.Create(ActorVaultConfig.ForVault(ConfigurationFactory.ParseString("actorvault.keystore.rsa-bits = 1024"))));

    [Fact]
    public void Backoff_GrowsExponentiallyToTheMaximum_WithBoundedJitter()
    {
        SupervisorSettings s = SupervisorSettings.Create(ActorVaultConfig.Link);
        Assert.Equal(TimeSpan.FromMilliseconds(200), s.Backoff(1, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(400), s.Backoff(2, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(800), s.Backoff(3, 0));
        Assert.Equal(TimeSpan.FromSeconds(10), s.Backoff(40, 0));
        Assert.Equal(TimeSpan.FromSeconds(12), s.Backoff(40, 1));
    }
}
