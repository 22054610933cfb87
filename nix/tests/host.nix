# A fully configured NixOS host for the flake's `module` check: evaluated with
# real nixpkgs, its assertions must hold, its config file must pass
# `ccci-config check` and its units must render.
{ ... }:
{
  boot.isContainer = true;
  # An older stateVersion: nixpkgs turns Docker's live-restore on for it, and
  # the module must turn it off (swarm mode refuses it).
  system.stateVersion = "23.11";

  services.ccci = {
    enable = true;
    probeImage = "registry.example.org/ccci/busybox:1.36";
    maxParallelRuns = 2;
    gitea = {
      url = "https://git.example.org/";
      tokenFile = "/run/secrets/ccci-gitea-token";
    };
    bridge = {
      enable = true;
      repos = [ "recipes/custom-html" ];
      webhookSecretFile = "/run/secrets/ccci-webhook-secret";
    };
    settings = {
      base_domain = "ci.example.org";
      public_url = "https://ci.example.org/";
      bridge.listen = "127.0.0.1:8087";
    };
    recipes.custom-html = {
      repo = "/srv/mirrors/custom-html.git";
      upstream = "https://git.coopcloud.tech/coop-cloud/custom-html.git";
      gitea_repo = "recipes/custom-html";
    };
    sweep.dates = "Sat *-*-* 04:30:00";
  };
}
