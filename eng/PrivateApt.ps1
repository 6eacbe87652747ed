# A private apt configuration under a cache folder: sources, lists and downloads of suites the system does not
# carry (FFmpeg sources of newer releases, Mesa from backports), without touching the system's apt state.
# Dot-sourced by build.ps1 before the scripts that use it.

# The user's cache folder for the build's downloads, as the engine's UserCache.Folder: $XDG_CACHE_HOME/wfvae, else
# ~/.cache/wfvae. Outside artifacts/ so `clean` does not throw away what takes minutes to fetch or build.
function Get-WfVaeUserCache {
    $root = if ($env:XDG_CACHE_HOME) { $env:XDG_CACHE_HOME } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache' }
    return (Join-Path $root 'wfvae')
}

# apt-get/apt-cache options for <Cache>/apt, whose sources.list holds $Kind ('deb' or 'deb-src') lines of $Suites.
function Get-PrivateAptOptions([string]$Cache, [string]$Kind, [string[]]$Suites) {
    $apt = Join-Path $Cache 'apt'
    $lists = Join-Path $apt 'lists'
    New-Item -ItemType Directory -Force -Path (Join-Path $lists 'partial'), (Join-Path $apt 'cache/archives/partial') | Out-Null
    $keyring = '/usr/share/keyrings/debian-archive-keyring.gpg'
    $lines = $Suites | ForEach-Object { "$Kind [signed-by=$keyring] http://deb.debian.org/debian $_ main" }
    Set-Content -LiteralPath (Join-Path $apt 'sources.list') -Value $lines
    return @(
        '-o', "Dir::Etc::SourceList=$(Join-Path $apt 'sources.list')", '-o', 'Dir::Etc::SourceParts=/dev/null',
        '-o', "Dir::State::Lists=$lists", '-o', "Dir::Cache=$(Join-Path $apt 'cache')",
        '-o', 'APT::Sandbox::User=root'
    )
}
