# Sourced by the sample hooks: `ctl COMMAND ...` runs the platform's control CLI for this app.
# CDHELPER_PLATFORM: the platform folder (Platform.directory). The app is CDHELPER_PLATFORM_APP,
# else the environment's name (each environment is an app of its own on the platform).
: "${CDHELPER_PLATFORM:?set CDHELPER_PLATFORM to the platform folder (cdhelper.devtools.rehearsal.platform.Platform.directory)}"
: "${CD_VERSION:?CD_VERSION is not set: run this as a cdhelper hook}"
platform_app="${CDHELPER_PLATFORM_APP:-${CD_ENVIRONMENT:-app}}"
ctl() {
  if [ -x "$CDHELPER_PLATFORM/ctl" ]; then
    "$CDHELPER_PLATFORM/ctl" --app "$platform_app" "$@" >/dev/null
  else
    python3 -m cdhelper.devtools.rehearsal.platform ctl --platform "$CDHELPER_PLATFORM" --app "$platform_app" "$@" >/dev/null
  fi
}
