namespace ActorVault.Tests; internal static class Placeholder { }
