# Sourced by the backup, restore and upgrade marker tests when no marker was
# seeded: a recipe without backup labels skips (77), but a recipe with labels
# whose seeding failed is red, never "no backup labels".
# $1: what the calling test would have checked; $2: the hook that seeds.
no_state() {
    ccci-verify-backup labelled "$CCCI_RUN_DIR" >/dev/null
    case $? in
    1)
        echo "no backup labels: $1"
        exit 77
        ;;
    0)
        echo "the recipe has backup labels but no data marker was seeded: the $2 hook failed (see its log)"
        exit 1
        ;;
    *) exit 99 ;;
    esac
}
