package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

func newBackupCommand(g *globalFlags) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write a consistent copy of the SQLite database while the server runs",
		Long: `Write a consistent online copy of the SQLite database to FILE (which must
not exist). For PostgreSQL use pg_dump (see the README). Back up the secret
key separately: the copy is useless without it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError{errors.New("--to FILE is required")}
			}
			cfg, st, err := g.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			b, ok := st.(interface {
				Backup(ctx context.Context, dest string) error
			})
			if !ok {
				return errors.New("this backend has no built-in backup: for PostgreSQL use pg_dump")
			}
			if err := b.Backup(cmd.Context(), to); err != nil {
				return err
			}
			printf(cmd, "backed up %s to %s\n", cfg.DB, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "destination file (must not exist)")
	return cmd
}
