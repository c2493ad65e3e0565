package model

import "math/rand/v2"

// Reseed restarts the sampler's random stream at one determined by its seed
// and stream alone. The pipeline reseeds with each token's position, so a
// generation replayed after a re-plan draws exactly the same tokens.
func (s *Sampler) Reseed(stream uint64) {
	s.rng = rand.New(rand.NewPCG(s.cfg.Seed, stream*0x9e3779b97f4a7c15+1))
}
