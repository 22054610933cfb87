# The module's configuration whose units are the files in systemd/: a plain
# Linux host with the tools in /usr/bin and their docs in /usr/share/doc/ccci,
# state in /var/lib/ccci, the Gitea token and the webhook secret in /etc/ccci/,
# and ccci's own defaults for what the units cannot know (the Gitea URL, the
# watched repositories and the probe image live in /etc/ccci/config.json; the
# bridge may start runs as its children, launcher direct).
{ stubs }:
{
  services.ccci = {
    enable = true;
    package = stubs.package "/usr";
    gitea.tokenFile = "/etc/ccci/gitea-token";
    bridge.enable = true;
    bridge.webhookSecretFile = "/etc/ccci/webhook-secret";
    settings.bridge.launcher = "direct";
  };
}
