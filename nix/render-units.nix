# The files in systemd/, rendered from the NixOS module's units.
#
# The module (nix/module.nix, units from nix/units.nix) is evaluated for a plain
# Linux host (nix/portable.nix: the tools in /usr/bin, state in /var/lib/ccci,
# the credentials in /etc/ccci/) with the stubs of nix/tests/stubs.nix, and each
# unit is written as NixOS writes it (a list is one line per element, booleans
# are true/false), plus the comments of nix/units.nix and an [Install] section.
# scripts/check-nix.sh compares systemd/ with this (`--write` updates it).
#
#   nix eval --raw -f nix/render-units.nix --arg lib 'import <nixpkgs-lib>/lib' names
{ lib }:
let
  stubs = import ./tests/stubs.nix { inherit lib; };
  portable = import ./portable.nix { inherit stubs; };
  eval = stubs.eval portable;
  cfg = eval.config.services.ccci;
  # The unit definitions with their comments: nix/units.nix, as the module calls it.
  units = eval.config.services.ccci.units;

  header = ''
    # Generated from nix/units.nix (the NixOS module's units) by
    # scripts/check-nix.sh --write, for a host with the tools in /usr/bin: edit
    # nix/units.nix, not this file.
  '';

  # Greedy word wrap of a comment at 80 columns.
  comment =
    text:
    let
      words = lib.filter (w: w != "") (lib.splitString " " text);
      step =
        acc: w:
        if acc.line == "" then
          acc // { line = w; }
        else if builtins.stringLength acc.line + 1 + builtins.stringLength w > 78 then
          {
            lines = acc.lines ++ [ acc.line ];
            line = w;
          }
        else
          acc // { line = "${acc.line} ${w}"; };
      r = builtins.foldl' step {
        lines = [ ];
        line = "";
      } words;
    in
    lib.concatMapStrings (l: "# ${l}\n") (r.lines ++ lib.optional (r.line != "") r.line);

  value =
    v:
    if builtins.isBool v then
      (if v then "true" else "false")
    else if builtins.isInt v then
      toString v
    else
      v;

  # Directives in a readable order; the rest follow alphabetically.
  order = [
    "Description"
    "Documentation"
    "After"
    "Wants"
    "StartLimitIntervalSec"
    "StartLimitBurst"
    "Type"
    "NotifyAccess"
    "Environment"
    "EnvironmentFile"
    "ExecStartPre"
    "ExecStart"
    "WatchdogSec"
    "Restart"
    "RestartSec"
    "RestartPreventExitStatus"
    "TimeoutStartSec"
    "RuntimeMaxSec"
    "KillMode"
    "TimeoutStopSec"
    "ExecStopPost"
    "SuccessExitStatus"
    "LoadCredential"
    "StateDirectory"
    "ReadWritePaths"
    "CapabilityBoundingSet"
    "NoNewPrivileges"
    "OnCalendar"
    "OnBootSec"
    "OnUnitActiveSec"
    "AccuracySec"
    "Persistent"
    "RandomizedDelaySec"
  ];
  sorted =
    attrs:
    let
      names = builtins.attrNames attrs;
      first = lib.filter (n: builtins.elem n names) order;
      rest = lib.filter (n: !(builtins.elem n order)) names;
    in
    first ++ rest;

  section =
    name: attrs: comments:
    "[${name}]\n"
    + lib.concatMapStrings (
      k:
      (if comments ? ${k} then comment comments.${k} else "")
      + lib.concatMapStrings (v: "${k}=${value v}\n") (lib.toList attrs.${k})
    ) (sorted attrs);

  nonEmpty = lib.filterAttrs (_: v: v != [ ] && v != "");

  unitSection =
    u:
    nonEmpty (
      {
        Description = u.description;
        Documentation = lib.concatStringsSep " " u.documentation;
      }
      // lib.optionalAttrs (u ? after) { After = lib.concatStringsSep " " u.after; }
      // lib.optionalAttrs (u ? wants) { Wants = lib.concatStringsSep " " u.wants; }
      // (u.unitConfig or { })
    );

  install =
    wantedBy: lib.optionalString (wantedBy != [ ]) "\n[Install]\nWantedBy=${lib.concatStringsSep " " wantedBy}\n";

  # The module's unit for this name (what NixOS gets), checked against units.nix.
  service =
    name:
    let
      u = units.services.${name};
      m = eval.config.systemd.services.${name};
      env = lib.mapAttrsToList (k: v: "\"${k}=${v}\"") m.environment;
    in
    assert lib.assertMsg (
      m.serviceConfig == u.serviceConfig
    ) "the module's ${name} serviceConfig differs from nix/units.nix";
    header
    + section "Unit" (unitSection m) u.comments
    + "\n"
    + section "Service" (
      m.serviceConfig // lib.optionalAttrs (env != [ ]) { Environment = env; }
    ) u.comments
    + install m.wantedBy;

  timer =
    name:
    let
      u = units.timers.${name};
      m = eval.config.systemd.timers.${name};
    in
    header
    + section "Unit" (nonEmpty {
      Description = m.description;
      Documentation = lib.concatStringsSep " " m.documentation;
    }) u.comments
    + "\n"
    + section "Timer" m.timerConfig u.comments
    + install m.wantedBy;

  files =
    lib.mapAttrs' (n: _: lib.nameValuePair "${n}.service" (service n)) eval.config.systemd.services
    // lib.mapAttrs' (n: _: lib.nameValuePair "${n}.timer" (timer n)) eval.config.systemd.timers;
in
{
  inherit files;
  # One file name per line, for the shell.
  names = lib.concatMapStrings (n: "${n}\n") (builtins.attrNames files);
  # The portable form must be a valid configuration too (bar what it leaves to
  # /etc/ccci/config.json: the Gitea URL and the watched repositories).
  assertionsFailing = map (a: a.message) (lib.filter (a: !a.assertion) eval.config.assertions);
  inherit cfg;
}
