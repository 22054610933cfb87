# What nix/module.nix needs of NixOS and nixpkgs, stubbed, so that it can be
# evaluated with the Nix library alone (lib.evalModules) where full nixpkgs is
# not at hand (scripts/check-nix.sh; Debian's nix-bin, no network).
#
# `module` declares the NixOS options the module sets, typed as NixOS types
# them (a misspelt unit attribute is an error here too); `pkgs` fakes the
# derivations it builds: a fake keeps its inputs (`buildCommand`, `text`,
# `passthru`) so that tests can look at what would be built.
{
  lib,
  # The module under test, and one more module on top of every evaluation
  # (for evaluating an older module.nix, say).
  moduleUnderTest ? ../module.nix,
  extraModule ? { },
}:
let
  inherit (lib) mkOption types;

  fakeHash = s: builtins.substring 0 32 (builtins.hashString "sha256" s);

  derivation =
    name: attrs:
    let
      passthru = attrs.passthru or { };
      self =
        removeAttrs attrs [ "passthru" ]
        // passthru
        // {
          type = "derivation";
          inherit name;
          outPath = "${builtins.storeDir}/${fakeHash (name + builtins.toJSON (builtins.attrNames attrs) + (attrs.buildCommand or attrs.text or ""))}-${name}";
          outputs = [ "out" ];
          out = self;
          outputName = "out";
          meta = attrs.meta or { };
        };
    in
    self;

  # A package at a fixed prefix: "/usr" renders units for a plain Linux host.
  package =
    prefix:
    {
      type = "derivation";
      name = "ccci-0.1.0";
      pname = "ccci";
      version = "0.1.0";
      outPath = prefix;
      outputs = [ "out" ];
      outputName = "out";
      meta.mainProgram = "ccci-run";
    }
    // {
      out = package prefix;
    };

  pkgs = rec {
    ccci = package "${builtins.storeDir}/${fakeHash "ccci"}-ccci-0.1.0";
    systemd = derivation "systemd-257" { };
    curl = derivation "curl-8.11" { };
    buildPackages = pkgs;
    writeText = name: text: derivation name { inherit text; };
    formats.json = { }: {
      type = types.attrsOf types.anything;
      generate =
        name: value:
        derivation name {
          text = builtins.toJSON value;
          passthru.settings = value;
        };
    };
    runCommand = name: env: buildCommand: derivation name (env // { inherit buildCommand; });
  };

  # NixOS's type of a unit setting: list definitions concatenate, others must agree.
  unitOption = types.mkOptionType {
    name = "systemd option";
    check = x: true;
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (d: builtins.isList d.value) defs' then
        lib.concatMap (d: lib.toList d.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  unitCommon = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.str;
      default = "";
    };
    documentation = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    after = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    wants = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    requires = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    wantedBy = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
  };

  service = types.submodule {
    options = unitCommon // {
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr types.str);
        default = { };
      };
      path = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
    };
  };

  timer = types.submodule {
    options = unitCommon // {
      timerConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  module =
    { config, ... }:
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        environment.etc = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.source = mkOption { type = types.unspecified; };
            }
          );
          default = { };
        };
        environment.systemPackages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        systemd.services = mkOption {
          type = types.attrsOf service;
          default = { };
        };
        systemd.timers = mkOption {
          type = types.attrsOf timer;
          default = { };
        };
        systemd.tmpfiles.rules = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        virtualisation.docker = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          # nixpkgs: on for a stateVersion before 24.11, which is the case to guard.
          liveRestore = mkOption {
            type = types.bool;
            default = true;
          };
          daemon.settings = mkOption {
            type = types.attrsOf types.anything;
            default = { };
          };
        };
      };
      # As nixpkgs's docker module does.
      config.virtualisation.docker.daemon.settings = lib.mkIf config.virtualisation.docker.enable {
        live-restore = lib.mkDefault config.virtualisation.docker.liveRestore;
      };
    };
in
{
  inherit
    module
    pkgs
    package
    derivation
    ;

  # The module evaluated with `config` (a module) on top.
  eval =
    config:
    lib.evalModules {
      modules = [
        module
        moduleUnderTest
        extraModule
        { _module.args.pkgs = pkgs; }
        config
      ];
    };
}
